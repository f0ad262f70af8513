"""Where artifact files live: any fsspec filesystem (a local directory by default).

:class:`Storage` is the port; :class:`FsspecStorage` the implementation for
``FLEET_ARTIFACTS_URL``. A plain path is a local directory; ``memory://`` is
fsspec's in-memory filesystem (the tests' double, with
``fleet.testing.storage.FlakyStorage`` to make chosen deletes fail).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from fleet.errors import StorageError
from fleet.redact import redact
from fleet.settings import Settings


class Storage(Protocol):
    """Bytes by key."""

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` (replacing it)."""

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; StorageError when missing or unreadable."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error. StorageError when refused."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a file."""
        ...


class FsspecStorage:
    """Files under a root URL, through fsspec."""

    def __init__(self, url: str) -> None:
        # lazy: fsspec loads only for the commands and jobs that touch files
        import fsspec.core

        if "://" not in url:
            url = os.path.abspath(url)
        self.url = url
        fs, root = fsspec.core.url_to_fs(url)
        self.fs: Any = fs
        self.root = root.rstrip("/")
        self._local = "://" not in url or url.startswith("file://")

    def _path(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"artifact key {key!r} is not a relative path")
        return f"{self.root}/{key}"

    def _fail(self, what: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"artifact storage {redact(self.url)}: {what} {key} failed: "
                            f"{type(exc).__name__}: {redact(str(exc))}")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            parent = path.rsplit("/", 1)[0]
            if self._local:
                self.fs.makedirs(parent, exist_ok=True)
            with self.fs.open(path, "wb") as fh:
                fh.write(data)
        except Exception as exc:
            raise self._fail("writing", key, exc) from None

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            with self.fs.open(path, "rb") as fh:
                return bytes(fh.read())
        except FileNotFoundError:
            raise StorageError(f"artifact storage {redact(self.url)}: {key} is missing") \
                from None
        except Exception as exc:
            raise self._fail("reading", key, exc) from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._fail("deleting", key, exc) from None

    def exists(self, key: str) -> bool:
        try:
            return bool(self.fs.exists(self._path(key)))
        except Exception as exc:
            raise self._fail("looking up", key, exc) from None


def storage_for(settings: Settings) -> FsspecStorage:
    """The storage of ``settings.artifacts_url``."""
    return FsspecStorage(settings.artifacts_url)
