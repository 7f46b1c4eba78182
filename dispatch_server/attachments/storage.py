"""Where photo bytes live: a content-addressed store (sha256 names) behind a small protocol.

The disk store is the default; an S3-compatible store can implement the same two methods.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class PhotoStore(Protocol):
    """Keeps bytes under a name derived from them."""

    def put(self, data: bytes, suffix: str) -> str:
        """Store the bytes; the key to get them back (the same bytes give the same key)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under `key` (KeyError when there are none)."""
        ...

    def delete(self, key: str) -> None:
        """Forget the bytes under `key` (nothing when there are none; OSError on failure)."""
        ...


class DiskStore:
    """Files under a folder: `ab/cd/<sha256><suffix>`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if "/" in key or "\\" in key or key.startswith("."):
            raise KeyError(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes, suffix: str) -> str:
        """Store the bytes (once: the same bytes are not written twice)."""
        key = hashlib.sha256(data).hexdigest() + suffix
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside, then rename: a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as partial:
            partial.write(data)
            partial.flush()
            os.fsync(partial.fileno())
        os.replace(partial.name, path)
        return key

    def get(self, key: str) -> bytes:
        """The stored bytes."""
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path.read_bytes()

    def delete(self, key: str) -> None:
        """Remove the file (the retention job, once no photo kept uses it)."""
        self._path(key).unlink(missing_ok=True)
