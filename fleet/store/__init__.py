"""The store: SQLModel tables, engines and sessions, and every query fleet runs."""
