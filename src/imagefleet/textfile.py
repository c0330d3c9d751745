"""Read the repository's own text files (manifests, Dockerfiles) as UTF-8: a file that cannot be
read, is not a file, or is not UTF-8 is refused with its path (and the line of the first bad byte).
"""

from __future__ import annotations

from pathlib import Path

from .errors import NotAFileError, NotUtf8Error, UnreadableImageFileError


def read(path: Path) -> str:
    """The text of ``path``; refuses directories, unreadable files and bytes that are not UTF-8."""
    if path.is_dir():
        raise NotAFileError(path=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableImageFileError(path=path, reason=exc.strerror or str(exc)) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise NotUtf8Error(
            path=path, line=line, column=column, byte=f"0x{data[exc.start]:02x}"
        ) from exc
