"""Alerts: recorded in the store, deduplicated by fingerprint, delivered through Apprise."""
