"""The Docker SDK, imported on first use (it is slow to import and most tasks never need it), and
its exceptions said in one line."""

from __future__ import annotations

from typing import Any

from .errors import last_line


def sdk() -> Any:
    """The Docker SDK, imported on first use: it is slow to import and most tasks never need it."""
    import docker
    import docker.auth
    import docker.errors

    return docker


def short(exc: BaseException) -> str:
    """What a Docker SDK or requests exception says, in one line short enough for an error."""
    return last_line(str(exc), type(exc).__name__, limit=300)
