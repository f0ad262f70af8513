"""The audit log of actions (SPEC §12)."""
