"""A deep batch on the real engine: its root gets a bake of its own beside the batch's, and the
children build on the very root that was exported. The root writes random bytes, so a second
build of it would differ: the children's layers prove BuildKit built it once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagefleet.bake import HEAD_START_MIN
from imagefleet.engine import Engine
from tests.helpers import git, invoke, make_project
from tests.integration.conftest import DockerCalls

pytestmark = pytest.mark.integration

PREFIX = "fxhead-"
REGISTRY = "registry.invalid/fleet"  # never pulled: the root is built in the run
ROOT = f"{PREFIX}root"
KIDS = [f"{PREFIX}kid{n}" for n in range(HEAD_START_MIN)]


def _project(root: Path) -> Path:
    sources = root / "sources"
    dockerfiles = {
        ROOT: "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "dd", "if=/dev/urandom", "of=/random", "bs=1k", "count=64"]\n',
        **dict.fromkeys(KIDS, f"FROM {REGISTRY}/{ROOT}:latest\n"),
    }
    for name, dockerfile in dockerfiles.items():
        (sources / name).mkdir(parents=True)
        (sources / name / "Dockerfile").write_text(dockerfile + f"COPY marker /etc/{name}\n")
        (sources / name / "marker").write_text(f"{name}\n")
    project = make_project(root / "project", {p.name: p for p in sorted(sources.iterdir())})
    for name in KIDS:  # only the root needs busybox in its context
        (project / "images" / name / "busybox").unlink()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "only the root carries busybox")
    return project


@pytest.fixture
def project(tmp_path: Path, engine: Engine, busybox_path: Path) -> Iterator[Path]:
    yield _project(tmp_path)
    rows = engine.client.api.images(filters={"reference": f"{PREFIX}*"})
    for ref in {t for row in rows for t in row.get("RepoTags") or ()}:
        engine.remove(ref)


def _layers(engine: Engine, ref: str) -> list[str]:
    layers: list[str] = engine.client.images.get(ref).attrs["RootFS"]["Layers"]
    return layers


def _build(project: Path, docker_calls: DockerCalls) -> tuple[int, dict[str, dict[str, str]]]:
    env = {"INVOKE_FLEET_REGISTRY": REGISTRY, **docker_calls.env}
    done = invoke(project, "build", "--all", "--json", env=env)
    assert "Traceback" not in done.output
    found = json.loads(done.stdout)
    return done.code, {o["image"]: o for o in (found["images"] if done.code else found)}


def test_the_root_of_a_deep_batch_builds_once_in_a_bake_of_its_own(
    project: Path, engine: Engine, docker_calls: DockerCalls
) -> None:
    code, outcomes = _build(project, docker_calls)
    assert code == 0, outcomes
    assert {n: o["status"] for n, o in outcomes.items()} == dict.fromkeys([ROOT, *KIDS], "built")
    calls = [
        sorted(argv[argv.index("--progress=plain") + 1 :])
        for argv in docker_calls.calls("buildx", "bake")
    ]
    assert sorted(calls) == sorted([[ROOT], sorted([ROOT, *KIDS])])
    sha = git(project, "rev-parse", "HEAD")
    root = _layers(engine, f"{ROOT}:{sha}")
    for kid in KIDS:
        assert _layers(engine, f"{kid}:{sha}")[: len(root)] == root, kid

    # A failing child: the root (changed, so built again) and the other children are built.
    (project / "images" / ROOT / "marker").write_text("root v2\n")
    with (project / "images" / KIDS[0] / "Dockerfile").open("a") as dockerfile:
        dockerfile.write('RUN ["/bin/busybox", "false"]\n')
    git(project, "commit", "-q", "-am", "root v2, a failing child")
    code, outcomes = _build(project, docker_calls)
    assert code == 4
    assert {n: o["status"] for n, o in outcomes.items()} == {
        ROOT: "built",
        KIDS[0]: "failed",
        **dict.fromkeys(KIDS[1:], "built"),
    }
    sha = git(project, "rev-parse", "HEAD")
    root = _layers(engine, f"{ROOT}:{sha}")
    for kid in KIDS[1:]:
        assert _layers(engine, f"{kid}:{sha}")[: len(root)] == root, kid
