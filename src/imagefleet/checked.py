"""Settings and manifests checked before are not checked again (ADR 20).

Every task checks the ``fleet:`` settings and every ``image.yml`` against their pydantic schemas.
Importing pydantic and building the schemas takes about 70 ms, the largest part of the tool's own
start before a build reaches BuildKit, and the input is the same run after run. So what passed
is remembered: by a digest of exactly what was checked, as the plain record it became (settings
and manifests are frozen dataclasses; pydantic is imported only to check something new).

The records are pickled into one file in the user's cache directory, beside the content keys'
file digests. A record is trusted only by the tool that wrote it: the key includes a fingerprint
of the package's own files (path, size, modification time), so a changed or upgraded tool checks
everything again. Failures are never remembered: a bad manifest is checked, and refused, on
every run. A cache that cannot be read or written costs time, never correctness.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import pickle
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Besides what the last run used, this many of the most recent other records are kept.
SPARE = 64
_PACKAGE = Path(__file__).resolve().parent


def cache_file() -> Path:
    """Where the records are kept: ``$XDG_CACHE_HOME/imagefleet`` (else ``~/.cache``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "imagefleet" / "checked.pickle"


@functools.cache
def _fingerprint() -> bytes | None:
    """The tool's own files, as installed; ``None`` when they are no files (a zip)."""
    digest = hashlib.sha256()
    found = False
    for path in sorted(_PACKAGE.rglob("*.py")):
        info = path.stat()
        digest.update(
            f"{path.relative_to(_PACKAGE)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode()
        )
        found = True
    return digest.digest() if found else None


def key(kind: str, data: bytes) -> str:
    """The key of ``data`` checked as ``kind``, for this version of the tool."""
    return hashlib.sha256((_fingerprint() or b"") + kind.encode() + b"\0" + data).hexdigest()


class Checked:
    """The records of one cache file: read on first use, written back at exit when something
    was added, keeping what this process used and the :data:`SPARE` most recent others."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, object] | None = None
        self._used: dict[str, None] = {}  # in order of use
        self._added = False

    def _read(self) -> dict[str, object]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    loaded = pickle.loads(self.path.read_bytes())  # noqa: S301 - the user's own cache
                except Exception:  # missing, truncated, or written by another Python
                    loaded = None
                if isinstance(loaded, dict):
                    self._entries = loaded
        return self._entries

    def get(self, kind: str, data: bytes, cls: type[T]) -> T | None:
        """The record of ``data`` checked before as ``kind``, if it is a ``cls``."""
        name = key(kind, data)
        found = self._read().get(name)
        if not isinstance(found, cls):
            return None
        self._used[name] = None
        return found

    def put(self, kind: str, data: bytes, record: object) -> None:
        """Remember that ``data`` passed as ``kind``, becoming ``record`` (see :meth:`save`)."""
        name = key(kind, data)
        self._read()[name] = record
        self._used[name] = None
        self._added = True

    def save(self) -> None:
        """Write the records back if any was added (atomically; failures are harmless)."""
        if self.path is None or not self._added or self._entries is None:
            return
        entries = self._entries
        spare = [k for k in entries if k not in self._used][-SPARE:]
        kept = {k: entries[k] for k in (*spare, *self._used) if k in entries}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_bytes(pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL))
            scratch.replace(self.path)
        except (OSError, pickle.PicklingError):
            pass  # a cache that cannot be written costs time, never correctness
        self._added = False


_OPEN: dict[Path | None, Checked] = {}


def records() -> Checked:
    """The records of the user's cache file, read once per process and saved at its exit."""
    # A tool whose files cannot be told apart from another version's remembers nothing.
    path = cache_file() if _fingerprint() is not None else None
    if path not in _OPEN:
        _OPEN[path] = opened = Checked(path)
        atexit.register(opened.save)
    return _OPEN[path]
