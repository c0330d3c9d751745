"""The attached run against a stand-in ``docker`` on PATH: exit codes, the cleanup calls, and a
real SIGTERM to this process while the "container" runs."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from imagefleet import attach
from imagefleet.errors import DockerCliMissingError

# run: records itself, then runs the rest of its arguments (the "container"), remembering its
# pid so that `stop` can end it; container inspect: "gone" once `rm` ran.
FAKE = """#!/bin/sh
echo "$*" >> "{log}"
case "$1" in
  run) shift; echo $$ > "{pid}"; exec "$@" ;;
  stop) kill "$(cat "{pid}")" ;;
  rm) touch "{removed}" ;;
  container) [ -e "{removed}" ] && exit 1; exit 0 ;;
esac
"""


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake docker first on PATH; returns its call log."""
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE.format(log=log, pid=tmp_path / "pid", removed=tmp_path / "removed"))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_the_commands_exit_code_comes_back(docker: Path) -> None:
    assert attach.run(["docker", "run", "sh", "-c", "exit 3"], "c1") == 3
    calls = docker.read_text().splitlines()
    assert calls[0] == "run sh -c exit 3"
    # Removed afterwards even when --rm already did: asked, removed, asked again.
    assert calls[1:] == ["container inspect c1", "rm --force c1", "container inspect c1"]


def test_sigterm_stops_and_removes_the_container(docker: Path) -> None:
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    timer.start()
    try:
        code = attach.run(["docker", "run", "sleep", "30"], "c2", grace=1)
    finally:
        timer.cancel()
    assert code == 128 + signal.SIGTERM
    assert time.monotonic() - started < 10
    calls = docker.read_text().splitlines()
    assert "stop --time 1 c2" in calls
    assert calls[-1] == "container inspect c2"
    assert "rm --force c2" in calls
    # The handler is put back.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_missing_docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DockerCliMissingError):
        attach.run(["docker", "run", "x"], "c3")
