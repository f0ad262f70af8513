"""Artifacts: the files of runs, in fsspec storage, with owner, scope and expiry.

- :mod:`fleet.artifacts.storage`: the storage port and its fsspec implementation.
- :mod:`fleet.artifacts.service`: put, get, list, delete (owner-checked).
- :mod:`fleet.artifacts.refs`: artifact references in graph inputs and outputs.

Artifacts sit below the run lifecycle (``fleet.runs`` stores block-written files,
spills outputs over the event cap and resolves artifact inputs) and above the
engine and the store.
"""
