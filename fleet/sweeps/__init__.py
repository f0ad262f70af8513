"""The system jobs: each a ``run_once(session, now, ctx) -> Report``."""
