"""Runs: the state machine, leases, the reaper and submission."""
