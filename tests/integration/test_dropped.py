"""A bake that dies mid-way on the real engine: its client is SIGKILLed while a generated fleet of
50 images builds. The run goes on with what was not exported yet, in one new round of bakes, and
never rebuilds what was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagefleet.engine import Engine
from tests.helpers import REPO, git, invoke, make_project
from tests.integration.conftest import DockerCalls

pytestmark = pytest.mark.integration

PREFIX = "fxdrop-"
REGISTRY = "registry.invalid/fleet"  # never pulled: every parent is built in the run
ROOTS = [f"{PREFIX}r{i}" for i in range(5)]
MIDDLES = [f"{PREFIX}m{i}" for i in range(15)]  # three on each root
LEAVES = [f"{PREFIX}l{i}" for i in range(30)]  # two on each middle, slow enough to kill
TITLE = "org.opencontainers.image.title"


def _fleet(root: Path) -> Path:
    """Fixture-style image directories for the fleet (a marker file each), made into a project."""
    sources = root / "sources"
    dockerfiles = dict.fromkeys(ROOTS, "FROM scratch\nCOPY busybox /bin/busybox\n")
    for i, name in enumerate(MIDDLES):
        dockerfiles[name] = f"FROM {REGISTRY}/{ROOTS[i // 3]}:latest\n"
    for i, name in enumerate(LEAVES):
        dockerfiles[name] = (
            f'FROM {REGISTRY}/{MIDDLES[i // 2]}:latest\nRUN ["/bin/busybox", "sleep", "2"]\n'
        )
    for name, dockerfile in dockerfiles.items():
        (sources / name).mkdir(parents=True)
        (sources / name / "Dockerfile").write_text(dockerfile + f"COPY marker /etc/{name}\n")
        (sources / name / "marker").write_text(f"{name}\n")
    project = make_project(root / "project", {p.name: p for p in sorted(sources.iterdir())})
    for name in (*MIDDLES, *LEAVES):  # only the roots need busybox in their context
        (project / "images" / name / "busybox").unlink()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "only roots carry busybox")
    return project


def _ours(engine: Engine, *, dangling: bool) -> list[dict[str, Any]]:
    """Local images of the fleet: tagged ones by name, dangling ones by their title label."""
    if dangling:
        rows: list[dict[str, Any]] = engine.client.api.images(filters={"dangling": True})
        return [r for r in rows if (r.get("Labels") or {}).get(TITLE, "").startswith(PREFIX)]
    found: list[dict[str, Any]] = engine.client.api.images(filters={"reference": f"{PREFIX}*"})
    return found


@pytest.fixture
def fleet(tmp_path: Path, engine: Engine, busybox_path: Path) -> Iterator[Path]:
    """The generated project; every image of it (tagged or dangling) is removed afterwards."""
    yield _fleet(tmp_path)
    for row in _ours(engine, dangling=False):
        for ref in row.get("RepoTags") or ():
            engine.remove(ref)
    for row in _ours(engine, dangling=True):
        engine.remove(str(row["Id"]))


def _exported(engine: Engine, sha: str) -> dict[str, str]:
    """Images of the fleet done with this run's tags (commit and content key) -> image ID."""
    done: dict[str, str] = {}
    for row in _ours(engine, dangling=False):
        tags: list[str] = row.get("RepoTags") or []
        names = {t.split(":", 1)[0] for t in tags}
        for name in names:
            if f"{name}:{sha}" in tags and any(t.startswith(f"{name}:key-") for t in tags):
                done[name] = str(row["Id"])
    return done


def _bake_under(ancestor: int, target: str) -> int | None:
    """The bake client below ``ancestor`` that builds ``target``: the buildx plugin the tool
    runs itself (``docker-buildx bake``), or ``docker buildx bake`` where it runs the docker
    CLI. (The roots' head start, a bake of its own, builds no leaf.)"""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = Path(argv[0].decode()).name if argv else ""
        if (
            not (
                (program == "docker-buildx" and argv[1:2] == [b"bake"])
                or (program == "docker" and argv[1:3] == [b"buildx", b"bake"])
            )
            or target.encode() not in argv
        ):
            continue
        pid = int(entry.name)
        while pid > 1:
            try:
                stat = (Path("/proc") / str(pid) / "stat").read_text()
            except OSError:
                break
            pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
            if pid == ancestor:
                return int(entry.name)
    return None


def _targets(argv: list[str]) -> list[str]:
    return argv[argv.index("--progress=plain") + 1 :]


def test_a_killed_bake_goes_again_without_what_it_exported(
    fleet: Path, engine: Engine, docker_calls: DockerCalls
) -> None:
    sha = git(fleet, "rev-parse", "HEAD")
    dangling_before = len(_ours(engine, dangling=True))
    env = {
        **os.environ,
        **docker_calls.env,
        "INVOKE_FLEET_ROOT": str(fleet),
        "INVOKE_FLEET_REGISTRY": REGISTRY,
        "COLUMNS": "200",
    }
    started = time.monotonic()
    # Output to files: a pipe nobody reads while the test waits would stall the CLI.
    out, err = fleet.parent / "stdout.txt", fleet.parent / "stderr.txt"
    with out.open("w") as stdout_file, err.open("w") as stderr_file:
        argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), "build", "--all"]
        cli = subprocess.Popen(
            [*argv, "--json"], cwd=fleet, env=env, stdout=stdout_file, stderr=stderr_file
        )
    try:
        # Wait until the first images are exported, then kill the bake under the CLI.
        exported: dict[str, str] = {}
        while len(exported) < 3 and time.monotonic() - started < 60:  # slow when the engine is busy
            time.sleep(0.1)
            exported = _exported(engine, sha)
        bake = _bake_under(cli.pid, LEAVES[0])
        assert bake is not None, "no docker buildx bake is running under the CLI"
        exported = _exported(engine, sha)
        os.kill(bake, signal.SIGKILL)
        cli.wait(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    stdout, stderr = out.read_text(), err.read_text()
    everything = [*ROOTS, *MIDDLES, *LEAVES]
    assert 0 < len(exported) < len(everything), "the kill came too early or too late to prove much"

    # The run still ends well: every image built, once.
    assert cli.returncode == 0, stdout + stderr
    assert "BuildKit dropped a batch of 50 images (docker buildx bake was killed by signal 9)" in (
        " ".join(stderr.split())  # the log line may be wrapped
    )
    outcomes = {o["image"]: o for o in json.loads(stdout)}
    assert {n: o["status"] for n, o in outcomes.items()} == dict.fromkeys(everything, "built")
    assert all(engine.image_id(f"{n}:{sha}") == outcomes[n]["id"] for n in everything)

    # The batch's bake beside the roots' head start; then one more round, for exactly what the
    # first had not exported (with a head start of its own when its roots have enough children).
    calls = [sorted(_targets(argv)) for argv in docker_calls.calls("buildx", "bake")]
    assert sorted(calls[:2]) == sorted([sorted(ROOTS), sorted(everything)])
    retries = sorted(calls[2:], key=len)  # a head start's roots, then the rest's bake
    assert len(retries) in (1, 2)
    assert set(retries[0]) <= set(retries[-1])
    assert not set(retries[-1]) & set(exported)
    assert {o["id"] for n, o in outcomes.items() if n in exported} == set(exported.values())
    assert {n: engine.image_id(f"{n}:{sha}") for n in exported} == exported
    assert len(_ours(engine, dangling=True)) == dangling_before

    # Nothing is left to do: the next run builds nothing and calls BuildKit no more.
    again = invoke(
        fleet,
        "build",
        "--all",
        "--json",
        env={"INVOKE_FLEET_REGISTRY": REGISTRY, **docker_calls.env},
    )
    assert again.code == 0, again.output
    assert {o["status"] for o in json.loads(again.stdout)} == {"up-to-date"}
    assert len(docker_calls.calls("buildx", "bake")) == len(calls)
