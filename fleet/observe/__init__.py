"""What the fleet is doing, read from the store: the overview snapshot, the runtimes
page and the counters of ``/metrics`` (SPEC §12)."""
