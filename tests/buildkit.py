"""Standalone BuildKit daemons on loopback made one buildx builder (remote driver), for the node
tests and the node benchmark: started by PID, and removed with their builders and state on exit."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imagefleet import buildx, localregistry

START_TIMEOUT = 30.0  # seconds a daemon gets to answer `buildctl debug workers`


class BuildkitError(RuntimeError):
    """A daemon did not start, or buildx refused the builder."""


def available() -> str | None:
    """Why the daemons cannot run here, or ``None`` when they can."""
    if not (shutil.which("buildkitd") and shutil.which("buildctl")):
        return "no buildkitd/buildctl (../shared/env/provision buildkit)"
    if not shutil.which("docker"):
        return "no docker CLI (buildx makes the builder)"
    return None


def require_multiplatform_node() -> None:
    """Fail (in CI) or skip unless a node can start here and build linux/amd64 and linux/arm64
    fixtures: buildkitd, root, and a static busybox of each platform on PATH."""
    from tests.helpers import require

    if (missing := available()) is not None:
        require(missing, "../shared/env/provision buildkit")
    if os.geteuid() != 0:
        require("buildkitd needs root here", "run the integration tests as root")
    for arch in ("amd64", "arm64"):
        if shutil.which(f"busybox-{arch}") is None:
            require(f"no busybox-{arch} on PATH", "../shared/env/provision multiarch")


@dataclass
class Daemon:
    """One buildkitd started here (by PID), on a fixed loopback port."""

    port: int
    config: Path
    root: Path = field(default_factory=Path)
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self, root: Path) -> None:
        """Run on empty state in ``root``; return once it answers."""
        self.root = root
        root.mkdir(parents=True)
        self.log = root.with_suffix(".log")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *("buildkitd", "--addr", self.address, "--root", str(root)),
                    *("--oci-worker=true", "--containerd-worker=false"),
                    *("--oci-worker-net", "host"),
                    *("--allow-insecure-entitlement", "network.host"),
                    *("--config", str(self.config)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Ctrl-C reaches the caller only, which removes the builder before the daemons.
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["buildctl", "--addr", self.address, "debug", "workers"],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise BuildkitError(f"buildkitd did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Nodes:
    """A buildx builder ``name`` whose nodes are ``daemons``, in order."""

    name: str
    daemons: tuple[Daemon, ...]
    scratch: Path

    def wipe(self) -> None:
        """Every daemon restarted on a new, empty state directory (same endpoints, so the
        builder's node list is unchanged)."""
        for daemon in self.daemons:
            old = daemon.root
            daemon.stop()
            daemon.start(self.scratch / f"root-{uuid.uuid4().hex[:8]}")
            shutil.rmtree(old, ignore_errors=True)


def _docker(*args: str) -> None:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildkitError(f"docker {' '.join(args)}: {done.stderr.strip()}")


def _config(path: Path, registry_address: str, extra: str = "") -> Path:
    # The daemons push to and pull from the loopback registry over plain HTTP, by either name.
    port = registry_address.rsplit(":", 1)[-1]
    path.write_text(
        "".join(
            f'[registry."{host}:{port}"]\n  http = true\n' for host in ("localhost", "127.0.0.1")
        )
        + extra
    )
    return path


@contextlib.contextmanager
def nodes(
    count: int,
    registry_address: str,
    *,
    parent: Path | None = None,
    prefix: str = "fx-nodes",
    config: str = "",
) -> Iterator[Nodes]:
    """``count`` buildkitd on free loopback ports that trust the registry at
    ``registry_address`` (``localhost:PORT``) over HTTP, and one buildx builder of them all
    (``docker buildx create --append``); ``config`` is more buildkitd.toml for every daemon
    (``[worker.oci]`` settings, …). The builder, the per-node builders ``invoke build`` made
    for it, the daemons and their state (under ``parent``, else a temporary directory) are
    removed on exit, also on failure or Ctrl-C. Needs root."""
    if count < 1:
        raise ValueError("count must be at least 1")
    scratch = Path(tempfile.mkdtemp(prefix="buildkit-", dir=parent))
    toml = _config(scratch / "buildkitd.toml", registry_address, config)
    daemons = tuple(Daemon(localregistry.free_port(), toml) for _ in range(count))
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        for daemon in daemons:
            daemon.start(scratch / f"root-{uuid.uuid4().hex[:8]}")
        _docker("buildx", "create", "--name", name, "--driver", "remote", daemons[0].address)
        for daemon in daemons[1:]:
            _docker("buildx", "create", "--append", "--name", name, daemon.address)
        yield Nodes(name, daemons, scratch)
    finally:
        buildx.remove_node_builders(name)
        with contextlib.suppress(BuildkitError):  # also after a half-made builder
            _docker("buildx", "rm", name)
        for daemon in daemons:
            daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)
