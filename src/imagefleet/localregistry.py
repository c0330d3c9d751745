"""A throwaway registry on loopback, so ``build`` → ``push`` can be tried with no account.

Runs the distribution ``registry`` binary (Debian's ``docker-registry``) when one is on PATH, else
a ``registry:2`` container. Its state (port, process or container, storage) lives in one
directory, so ``stop`` ends exactly what ``start`` began. The test suite uses the same code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from .errors import (
    EnvironmentProblem,
    LocalRegistryStartError,
    LocalRegistryUnavailableError,
    PortInUseError,
)

LOGGER = logging.getLogger(__name__)

BINARIES = ("docker-registry", "registry")
# Registries this process started: kept so they can be reaped (and never warn when collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
CONTAINER_IMAGE = "registry:2"
STATE = "state.json"


@dataclass(frozen=True)
class LocalRegistry:
    """A running local registry."""

    port: int
    directory: str
    kind: str  # "binary" or "container"
    pid: int | None = None
    container: str | None = None
    htpasswd: str | None = None

    @property
    def address(self) -> str:
        """``localhost:PORT``: Docker pushes to loopback registries over plain HTTP."""
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Stopped:
    """What :func:`stop` ended: the registry its state recorded, and whether it still ran (one
    that died on its own only had its state cleaned up)."""

    registry: LocalRegistry
    was_running: bool


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def find_binary() -> str | None:
    """The registry binary on PATH, if any."""
    for name in BINARIES:
        if path := shutil.which(name):
            return path
    return None


def _config(port: int, storage: Path, htpasswd: Path | None, *, read_only: bool = False) -> str:
    auth = ""
    if htpasswd is not None:
        auth = f"auth:\n  htpasswd:\n    realm: imagefleet\n    path: {htpasswd}\n"
    maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if read_only else ""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"{maintenance}"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: imagefleet-local-only\n"
        f"{auth}"
    )


def status(directory: Path) -> LocalRegistry | None:
    """The registry recorded in ``directory``, if it is still running."""
    state = directory / STATE
    if not state.is_file():
        return None
    registry = LocalRegistry(**json.loads(state.read_text()))
    return registry if _running(registry) else None


def _running(registry: LocalRegistry) -> bool:
    if registry.pid is not None:
        return _alive(registry.pid)
    # A container: whether its port still answers (asking the engine would load the Docker SDK).
    return _port_in_use(registry.port)


def _alive(pid: int) -> bool:
    if pid in _CHILDREN:  # our own child: a zombie is not alive
        return _CHILDREN[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A finished process whose parent has not reaped it yet is a zombie: not running.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _wait_ready(registry: LocalRegistry, log: Path | None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.pid is not None and not _alive(registry.pid):
            break
        try:
            requests.get(f"{registry.url}/v2/", timeout=1)
        except requests.exceptions.RequestException:
            time.sleep(0.1)
            continue
        return
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log and log.exists() else []
    raise LocalRegistryStartError(
        port=registry.port, log=" | ".join(tail), directory=registry.directory
    )


def start(
    directory: Path,
    port: int | None = None,
    *,
    htpasswd: Path | None = None,
    read_only: bool = False,
) -> LocalRegistry:
    """Start a registry on ``127.0.0.1:port`` (``None``: any free port), state in ``directory``;
    ``read_only`` starts it in maintenance mode (reads only: every upload gets 405), as a
    registry under maintenance answers (the push fault tests play one)."""
    running = status(directory)
    if running is not None:
        return running
    port = port or free_port()
    if _port_in_use(port):
        raise PortInUseError(port=port)
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage"
    storage.mkdir(exist_ok=True)
    binary = find_binary()
    if binary is not None:
        config = directory / "config.yml"
        config.write_text(_config(port, storage, htpasswd, read_only=read_only))
        log = directory / "registry.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        registry = LocalRegistry(
            port=port,
            directory=str(directory),
            kind="binary",
            pid=proc.pid,
            htpasswd=str(htpasswd) if htpasswd else None,
        )
        try:
            _wait_ready(registry, log)
        except EnvironmentProblem:
            _terminate(proc.pid)
            raise
    else:
        registry = _start_container(directory, port, storage)
    (directory / STATE).write_text(json.dumps(asdict(registry)))
    LOGGER.info("local registry on %s (%s)", registry.address, registry.kind)
    return registry


def _start_container(directory: Path, port: int, storage: Path) -> LocalRegistry:
    from .engine import Engine
    from .errors import FleetError

    try:
        container = Engine.connect().run_detached(
            CONTAINER_IMAGE,
            ports={"5000/tcp": ("127.0.0.1", port)},
            volumes={str(storage): "/var/lib/registry"},
        )
    except FleetError:
        raise
    except Exception as exc:
        raise LocalRegistryUnavailableError(image=CONTAINER_IMAGE, reason=exc) from exc
    registry = LocalRegistry(
        port=port, directory=str(directory), kind="container", container=container
    )
    _wait_ready(registry, None)
    return registry


def _terminate(pid: int, timeout: float = 10.0) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:  # started by this process: terminate and reap it
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop(directory: Path, *, keep_storage: bool = False) -> Stopped | None:
    """Stop the registry recorded in ``directory`` and remove its state; say what was stopped
    (``None``: nothing was recorded there)."""
    state = directory / STATE
    if not state.is_file():
        return None
    registry = LocalRegistry(**json.loads(state.read_text()))
    was_running = _running(registry)
    if registry.pid is not None and was_running:
        _terminate(registry.pid)
    elif registry.pid is not None:  # died on its own: never signal a pid that may be reused
        _CHILDREN.pop(registry.pid, None)
    if registry.container is not None:
        from .engine import Engine

        Engine.connect().remove_container(registry.container)
    state.unlink()
    if not keep_storage:
        shutil.rmtree(directory / "storage", ignore_errors=True)
    return Stopped(registry, was_running)


@contextlib.contextmanager
def running(
    directory: Path, port: int | None = None, *, htpasswd: Path | None = None
) -> Iterator[LocalRegistry]:
    """Start a registry for the duration of a ``with`` block, and always stop it."""
    registry = start(directory, port, htpasswd=htpasswd)
    try:
        yield registry
    finally:
        stop(directory)
