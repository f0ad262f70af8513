"""Artifact storage doubles: fsspec's in-memory filesystem, and a wrapper whose deletes fail."""

from __future__ import annotations

import threading
from collections import Counter

from fleet.artifacts.storage import FsspecStorage, Storage
from fleet.errors import StorageError
from fleet.store.types import new_id


def memory_storage() -> FsspecStorage:
    """A fresh storage on fsspec's ``memory://`` filesystem (its own root)."""
    return FsspecStorage(f"memory://fleet-test-{new_id()}")


class FlakyStorage:
    """Wraps a storage; deletes of the keys in ``fail_delete`` raise, and every delete is counted.

    ``deletes`` counts the deletions that reached the inner storage, per key:
    the expired-files test reads it to prove each file was deleted once.
    """

    def __init__(self, inner: Storage, fail_delete: set[str] | None = None) -> None:
        self.inner = inner
        self.fail_delete = set(fail_delete or ())
        self.deletes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        if key in self.fail_delete:
            raise StorageError(f"delete of {key} refused (FlakyStorage.fail_delete)")
        with self._lock:
            self.deletes[key] += 1
        self.inner.delete(key)
