"""The local registry's state: one that died is reported as such; a second port is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from imagefleet import localregistry
from tests.helpers import invoke, make_project, require


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _record(directory: Path, registry: localregistry.LocalRegistry) -> None:
    directory.mkdir(parents=True)
    (directory / "storage").mkdir()
    (directory / localregistry.STATE).write_text(json.dumps(asdict(registry)))


def test_a_registry_that_died_is_not_running_and_stop_cleans_up(tmp_path: Path) -> None:
    directory = tmp_path / "registry"
    dead = localregistry.LocalRegistry(
        port=localregistry.free_port(), directory=str(directory), kind="binary", pid=_dead_pid()
    )
    _record(directory, dead)
    assert localregistry.status(directory) is None
    stopped = localregistry.stop(directory)
    assert stopped == localregistry.Stopped(dead, was_running=False)
    assert not (directory / localregistry.STATE).exists()
    assert not (directory / "storage").exists()
    assert localregistry.stop(directory) is None  # nothing recorded any more


def test_a_container_registry_whose_port_is_closed_is_not_running(tmp_path: Path) -> None:
    directory = tmp_path / "registry"
    gone = localregistry.LocalRegistry(
        port=localregistry.free_port(), directory=str(directory), kind="container", container="x"
    )
    _record(directory, gone)
    assert localregistry.status(directory) is None


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if localregistry.find_binary() is None:
        require("no registry binary", "apt-get install docker-registry")
    return make_project(tmp_path / "project", with_busybox=False)


def test_start_on_another_port_is_refused_and_stop_after_death_says_so(project: Path) -> None:
    port, other = localregistry.free_port(), localregistry.free_port()
    directory = project / ".fleet" / "registry"
    try:
        started = invoke(project, "registry.start", "--port", str(port))
        assert started.code == 0, started.output
        assert started.stdout.strip() == f"localhost:{port}"
        again = invoke(project, "registry.start", "--port", str(other))
        assert again.code == 2, again.output
        assert f"a local registry already runs on localhost:{port}" in again.stderr
        assert "hint: stop it first" in again.stderr
        same = invoke(project, "registry.start", "--port", str(port))
        assert same.code == 0, same.output
        assert "already running" in same.stderr
        # The registry dies behind the tool's back: stop says so rather than "stopped".
        recorded = localregistry.status(directory)
        assert recorded is not None
        assert recorded.pid is not None
        os.kill(recorded.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while localregistry.status(directory) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped = invoke(project, "registry.stop")
        assert stopped.code == 0, stopped.output
        assert "was not running" in stopped.stderr
        assert "stopped local registry" not in stopped.stderr
        assert not (directory / localregistry.STATE).exists()
    finally:
        localregistry.stop(directory)
