"""API tokens and the roles they carry (SPEC §12)."""
