"""A three-level family (base → middle → two leaves) plus an unrelated image, on the real engine.

Parents are named through the configured registry (a real one on loopback), as real images name
theirs: a child builds FROM the parent built in the same run, and FROM the published parent when
the parent is not rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagefleet.engine import Engine
from tests.helpers import git, invoke
from tests.integration.conftest import DockerCalls

pytestmark = pytest.mark.integration

FAMILY = ("fx-base", "fx-middle", "fx-leaf-a", "fx-leaf-b")


def _cat(engine: Engine, ref: str, path: str) -> str:
    output: bytes = engine.client.containers.run(ref, ["cat", path], remove=True)
    return output.decode().strip()


def _commit(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


def test_family_builds_in_order_and_rebuilds_what_changed(
    family: tuple[Path, dict[str, str]],
    engine: Engine,
    docker_calls: DockerCalls,
) -> None:
    project, env = family

    listed = {
        r["name"]: r["parents"]
        for r in json.loads(invoke(project, "list", "--json", env=env).stdout)
    }
    assert listed == {
        "fx-base": [],
        "fx-middle": ["fx-base"],
        "fx-leaf-a": ["fx-middle"],
        "fx-leaf-b": ["fx-middle", "fx-base"],
        "fx-solo": [],
    }

    # 1. Everything, two at a time, then publish it (the registry now holds "base v1").
    built = invoke(
        project, "build", "--all", "--jobs", "2", "--json", env={**env, **docker_calls.env}
    )
    assert built.code == 0, built.output
    # One BuildKit call for the whole family, children on the targets of their parents.
    assert len(docker_calls.calls("buildx", "bake")) == 1
    assert docker_calls.calls("buildx", "build") == []
    outcomes = json.loads(built.stdout)
    assert [o["image"] for o in outcomes] == [
        "fx-base",
        "fx-solo",
        "fx-middle",
        "fx-leaf-a",
        "fx-leaf-b",
    ]
    assert {o["status"] for o in outcomes} == {"built"}
    assert "5 images in" in built.stdout or "5 images in" in built.stderr
    pushed = invoke(project, "push", "--all", env=env)
    assert pushed.code == 0, pushed.output

    # 2. A change to the base: changed lists the family (not solo), and the rebuild of the
    #    children uses the base built in this run, which was never pushed.
    (project / "images" / "fx-base" / "marker").write_text("base v2\n")
    _commit(project, "base v2")
    changed = json.loads(invoke(project, "changed", "--base", "HEAD~1", "--json", env=env).stdout)
    assert changed["images"] == list(FAMILY)
    assert changed["reasons"]["fx-leaf-a"] == "builds on fx-base"
    plan = json.loads(
        invoke(project, "plan", "--changed", "--base", "HEAD~1", "--json", env=env).stdout
    )
    assert plan["waves"] == [["fx-base"], ["fx-middle"], ["fx-leaf-a", "fx-leaf-b"]]
    rebuilt = invoke(
        project,
        "build",
        "--changed",
        "--base",
        "HEAD~1",
        "--jobs",
        "2",
        "--json",
        env={**env, **docker_calls.env},
    )
    assert rebuilt.code == 0, rebuilt.output
    assert len(docker_calls.calls("buildx", "bake")) == 2
    assert [o["image"] for o in json.loads(rebuilt.stdout)] == list(FAMILY)
    sha = git(project, "rev-parse", "HEAD")
    assert _cat(engine, f"fx-leaf-a:{sha}", "/etc/fx-middle-saw") == "base v2"
    assert _cat(engine, f"fx-leaf-b:{sha}", "/etc/fx-leaf-b-copied") == "base v2"
    assert engine.image_id(f"fx-solo:{sha}") is None

    # 3. A change to one leaf rebuilds only it, FROM the middle of the current content (the
    #    up-to-date local image, "base v2"), never the stale published one ("base v1").
    (project / "images" / "fx-leaf-a" / "Dockerfile").write_text(
        (project / "images" / "fx-leaf-a" / "Dockerfile").read_text() + "ENV LEAF=2\n"
    )
    _commit(project, "leaf a")
    only = invoke(
        project, "build", "--changed", "--base", "HEAD~1", "--jobs", "2", "--json", env=env
    )
    assert only.code == 0, only.output
    assert [o["image"] for o in json.loads(only.stdout)] == ["fx-leaf-a"]
    sha = git(project, "rev-parse", "HEAD")
    assert _cat(engine, f"fx-leaf-a:{sha}", "/etc/fx-middle-saw") == "base v2"


def test_failing_middle_skips_its_leaves_and_builds_the_rest(
    family: tuple[Path, dict[str, str]],
    engine: Engine,
) -> None:
    project, env = family
    middle = project / "images" / "fx-middle" / "Dockerfile"
    middle.write_text(middle.read_text() + "RUN echo 'middle is broken' && false\n")
    _commit(project, "break middle")
    result = invoke(project, "build", "--all", "--jobs", "2", "--json", env=env)
    assert result.code == 4, result.output
    assert "Traceback" not in result.output
    outcomes = {o["image"]: o for o in json.loads(result.stdout)["images"]}
    assert outcomes["fx-middle"]["status"] == "failed"
    assert outcomes["fx-leaf-a"] == {
        **outcomes["fx-leaf-a"],
        "status": "skipped",
        "reason": "parent fx-middle failed",
    }
    assert outcomes["fx-leaf-b"]["status"] == "skipped"
    assert outcomes["fx-base"]["status"] == "built"
    assert outcomes["fx-solo"]["status"] == "built"
    assert "middle is broken" in result.stderr
    assert "error: 1 of 5 images failed (fx-middle); 2 skipped (fx-leaf-a, fx-leaf-b)" in (
        result.stderr
    )
    sha = git(project, "rev-parse", "HEAD")
    assert engine.image_id(f"fx-solo:{sha}") is not None
    assert engine.image_id(f"fx-leaf-a:{sha}") is None
