"""The REST API, the web dashboard and /metrics (SPEC §12)."""
