"""SIGINT and SIGTERM sent to real `invoke build`, `push` and `test` runs, and two runs at once:
the exit code, and what is left behind (tags, registry tags, containers, processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from imagefleet import localregistry
from imagefleet.engine import Engine
from tests import buildkit
from tests.helpers import FIXTURES, REPO, git, invoke, make_project, require

pytestmark = pytest.mark.integration

IMAGE = "fx-slow"
LABEL = "imagefleet.test-session"
EXPECTED: dict[int, tuple[int, str]] = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (143, "terminated"),
}


@pytest.fixture
def project(tmp_path: Path, engine: Engine, busybox_path: Path, janitor: None) -> Path:
    """A committed project holding the slow fixture image."""
    return make_project(tmp_path / "project", {IMAGE: FIXTURES / "slow" / IMAGE})


@dataclass
class Run:
    """A CLI run started in a session of its own, its output read as it comes."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def wait_for(self, found: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not found():
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.05)

    def seen(self, marker: str) -> Callable[[], bool]:
        return lambda: any(marker in line for line in self.lines)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.proc.wait(timeout)
        assert self.reader is not None
        self.reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code, "".join(self.lines)

    def kill(self, signum: int, *, group: bool = False) -> None:
        (os.killpg if group else os.kill)(self.proc.pid, signum)


@pytest.fixture
def start(project: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def begin(*args: str, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
            cwd=project,
            env={**os.environ, "INVOKE_FLEET_ROOT": str(project), "COLUMNS": "200", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        run = Run(proc)
        assert proc.stdout is not None
        stdout = proc.stdout
        run.reader = threading.Thread(target=lambda: run.lines.extend(stdout), daemon=True)
        run.reader.start()
        runs.append(run)
        return run

    yield begin
    for run in runs:  # a failed assertion must not leave a run going
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.finish()


def _session_processes(sid: int) -> list[str]:
    """Processes still alive in session ``sid`` (what the run started, its own children)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(stat.parent.name)
    return found


def _tags(engine: Engine) -> set[str]:
    return {t for image in engine.client.images.list(name=IMAGE) for t in image.tags}


def _stopped(run: Run, signum: int) -> str:
    code, output = run.finish()
    assert (code, output.splitlines()[-1]) == EXPECTED[signum], output
    assert "Traceback" not in output
    assert "error:" not in output  # not "build failed": a signal is no failure
    return output


def _build(project: Path, *args: str) -> None:
    result = invoke(project, "build", "--image", IMAGE, *args)
    assert result.code == 0, result.output


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
    ids=["sigint-group", "sigint-alone", "sigterm"],
)
def test_signal_mid_build_cancels_it_and_tags_nothing(
    start: Callable[..., Run], engine: Engine, signum: int, group: bool
) -> None:
    before = _tags(engine)
    run = start("build", "--image", IMAGE, "--no-cache", "--build-arg", "PAUSE=30")
    run.wait_for(run.seen("slow step"))
    time.sleep(0.5)
    run.kill(signum, group=group)
    _stopped(run, signum)
    # The bake was stopped, not orphaned (an orphan goes on to export and tag in ~30s).
    assert _session_processes(run.proc.pid) == []
    assert _tags(engine) == before


def test_sigterm_mid_push_moves_no_tag_and_a_rerun_pushes(
    project: Path,
    start: Callable[..., Run],
    engine: Engine,
    registry: localregistry.LocalRegistry,
) -> None:
    _build(project, "--build-arg", "PAUSE=0", "--build-arg", "BULK_MB=150")  # seconds to push
    local = _tags(engine)
    env = {"INVOKE_FLEET_REGISTRY": f"{registry.address}/fleet"}
    run = start("push", "--image", IMAGE, "--latest", env=env)
    run.wait_for(run.seen(f"push {IMAGE}"))
    run.kill(signal.SIGTERM)
    _stopped(run, signal.SIGTERM)
    time.sleep(3)  # a push the daemon carried on with would have tagged by now
    listed = requests.get(f"{registry.url}/v2/fleet/{IMAGE}/tags/list", timeout=10)
    assert listed.status_code == 404 or not listed.json().get("tags"), listed.text
    assert _tags(engine) == local  # no HOST:PORT/… tag left behind

    again = invoke(project, "push", "--image", IMAGE, "--latest", env=env)
    assert again.code == 0, again.output
    listed = requests.get(f"{registry.url}/v2/fleet/{IMAGE}/tags/list", timeout=10)
    assert "latest" in listed.json()["tags"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_mid_test_leaves_no_container(
    project: Path, start: Callable[..., Run], engine: Engine, signum: int
) -> None:
    _build(project, "--build-arg", "PAUSE=0")
    [image_id] = {str(i.id) for i in engine.client.images.list(name=IMAGE)}

    def containers() -> list[str]:
        found = engine.client.api.containers(all=True, filters={"ancestor": image_id})
        return [str(c["Id"]) for c in found]

    run = start("test", "--image", IMAGE)
    run.wait_for(lambda: bool(engine.client.containers.list(filters={"label": LABEL})))
    run.wait_for(lambda: bool(containers()))  # the slow test's container runs
    run.kill(signum)
    _stopped(run, signum)
    assert containers() == []
    assert _session_processes(run.proc.pid) == []


def test_two_builds_at_once_one_waits_and_both_succeed(
    project: Path, start: Callable[..., Run], engine: Engine
) -> None:
    args = ("build", "--image", IMAGE, "--build-arg", "PAUSE=3")
    first, second = start(*args), start(*args)
    (code_a, out_a), (code_b, out_b) = first.finish(), second.finish()
    assert (code_a, code_b) == (0, 0), out_a + out_b
    assert "waiting" in out_a + out_b  # one waited for the other's lock
    assert "up-to-date" in out_a + out_b  # and then found the image built: one build, not two
    sha = git(project, "rev-parse", "HEAD")
    assert engine.image_id(f"{IMAGE}:{sha}") is not None


def test_two_pushes_at_once_both_succeed_and_agree(
    project: Path,
    start: Callable[..., Run],
    engine: Engine,
    registry: localregistry.LocalRegistry,
) -> None:
    _build(project, "--build-arg", "PAUSE=0", "--build-arg", "BULK_MB=20")
    env = {"INVOKE_FLEET_REGISTRY": f"{registry.address}/fleet"}
    first = start("push", "--image", IMAGE, "--latest", "--json", env=env)
    second = start("push", "--image", IMAGE, "--latest", "--json", env=env)
    (code_a, out_a), (code_b, out_b) = first.finish(), second.finish()
    assert (code_a, code_b) == (0, 0), out_a + out_b
    sha = git(project, "rev-parse", "HEAD")
    digests = set()
    for tag in ("latest", sha):
        answer = requests.get(
            f"{registry.url}/v2/fleet/{IMAGE}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        answer.raise_for_status()
        digests.add(answer.headers["Docker-Content-Digest"])
    assert len(digests) == 1  # latest and the sha tag: the same, whole image


def test_sigterm_mid_classic_build_cancels_it_in_the_daemon(
    start: Callable[..., Run], engine: Engine
) -> None:
    """The classic builder runs in the daemon, not in a child: closing the build's connection
    is what cancels it. Proven by waiting past the step's end: nothing is tagged."""
    before = _tags(engine)
    run = start(
        "build",
        "--image",
        IMAGE,
        "--no-cache",
        "--build-arg",
        "PAUSE=6",
        env={"INVOKE_FLEET_BUILDER": "classic"},
    )
    run.wait_for(run.seen("slow step"))
    time.sleep(0.5)
    run.kill(signal.SIGTERM)
    _stopped(run, signal.SIGTERM)
    time.sleep(9)  # the step would have ended, and the image been tagged, by now
    assert _tags(engine) == before


def test_sigterm_mid_node_build_cancels_it_on_the_node(
    start: Callable[..., Run], registry: localregistry.LocalRegistry, tmp_path: Path
) -> None:
    """On a BuildKit node the bake client is the tool's child: SIGTERM reaches it, it cancels
    the build on the node, and nothing reaches the registry, not even by digest (an orphaned
    bake would finish the step and push). Proven by waiting past the step's end."""
    if (missing := buildkit.available()) is not None:
        require(missing, "../shared/env/provision buildkit")
    if os.geteuid() != 0:
        require("buildkitd needs root here", "run the integration tests as root")
    target = f"{registry.address}/fleet"
    with buildkit.nodes(1, registry.address, parent=tmp_path) as nodes:
        run = start(
            *("build", "--image", IMAGE, "--builder", nodes.name, "--push"),
            *("--registry", target, "--build-arg", "PAUSE=6"),
            env={"INVOKE_FLEET_REGISTRY": target},
        )
        run.wait_for(run.seen("slow step"), timeout=120)
        time.sleep(0.5)
        run.kill(signal.SIGTERM)
        _stopped(run, signal.SIGTERM)
        assert _session_processes(run.proc.pid) == []
        time.sleep(9)  # the step would have ended, and the image been pushed, by now
        catalog = requests.get(f"http://{registry.address}/v2/_catalog", timeout=10)
        catalog.raise_for_status()
        assert catalog.json()["repositories"] == []
