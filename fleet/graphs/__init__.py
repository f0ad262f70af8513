"""Users' graphs: reading graph files, adding validated versions, archiving and deleting."""
