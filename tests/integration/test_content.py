"""Content keys on the real engine: what has not changed is never built again.

A spy ``docker`` on PATH records every call the tool makes, so "no build" is proven by the
absence of any BuildKit call (and by image IDs that did not move), not by timings.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from imagefleet.engine import Engine
from tests.helpers import Result, git, invoke

pytestmark = pytest.mark.integration

FAMILY = ("fx-base", "fx-middle", "fx-leaf-a", "fx-leaf-b", "fx-solo")


@pytest.fixture
def spy(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A ``docker`` first on PATH that logs its arguments, then runs the real one."""
    real = next(
        str(Path(d) / "docker")
        for d in os.environ["PATH"].split(os.pathsep)
        if (Path(d) / "docker").is_file()
    )
    directory = tmp_path / "spy"
    directory.mkdir()
    log = tmp_path / "docker-calls.log"
    script = directory / "docker"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}, log


def _builds(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith(("buildx build", "buildx bake", "build "))]


def _commit(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


def _statuses(result: Result) -> dict[str, str]:
    assert result.code == 0, result.output
    return {o["image"]: o["status"] for o in json.loads(result.stdout)}


def _ids(result: Result) -> dict[str, str | None]:
    """Each image's ID as a build run reported it (built or up to date)."""
    assert result.code == 0, result.output
    return {o["image"]: o["id"] for o in json.loads(result.stdout)}


def _content(project: Path, env: dict[str, str], *args: str) -> dict[str, dict[str, object]]:
    done = invoke(project, "plan", *args, "--json", env=env)
    assert done.code == 0, done.output
    return {i["image"]: i["content"] for i in json.loads(done.stdout)["images"]}


def test_nothing_changed_builds_nothing(
    family: tuple[Path, dict[str, str]], engine: Engine, spy: tuple[dict[str, str], Path]
) -> None:
    project, env = family
    built = invoke(project, "build", "--all", "--jobs", "2", "--json", env=env)
    assert set(_statuses(built).values()) == {"built"}
    before = _ids(built)

    # A new commit that touches no image: every image's content already has an image.
    (project / "NOTES.md").write_text("not part of any image\n")
    _commit(project, "notes")
    assert {c["action"] for c in _content(project, env, "--all").values()} == {"up-to-date"}
    extra, log = spy
    since = int(time.time()) + 1  # events are filtered by whole seconds: none of earlier runs'
    time.sleep(since - time.time())
    again = invoke(project, "build", "--all", "--jobs", "2", "--json", env={**env, **extra})
    assert set(_statuses(again).values()) == {"up-to-date"}
    assert _builds(log) == [], "a BuildKit build ran although nothing changed"
    # The very same images, and not even a tag request: the engine was only asked questions.
    assert _ids(again) == before
    events = engine.client.events(
        since=since, until=int(time.time()) + 1, filters={"type": "image"}, decode=True
    )
    assert [e["Action"] for e in events] == []
    assert "up-to-date" in again.stderr
    # A task that acts on this commit's image gives it the commit's tag then.
    sha = git(project, "rev-parse", "HEAD")
    assert engine.image_id(f"fx-base:{sha}") is None
    tagged = invoke(project, "tag", "--image", "fx-base", env=env)
    assert tagged.code == 0, tagged.output
    assert engine.image_id(f"fx-base:{sha}") == before["fx-base"]


def test_a_changed_middle_rebuilds_it_and_its_children_only(
    family: tuple[Path, dict[str, str]], engine: Engine
) -> None:
    project, env = family
    first = invoke(project, "build", "--all", "--json", env=env)
    assert set(_statuses(first).values()) == {"built"}
    old = _ids(first)
    middle = project / "images" / "fx-middle" / "Dockerfile"
    middle.write_text(middle.read_text() + "ENV MIDDLE=2\n")
    _commit(project, "middle v2")

    content = _content(project, env, "--all")
    assert content["fx-middle"]["action"] == "build"
    assert content["fx-middle"]["reasons"] == ["files changed: Dockerfile"]
    assert content["fx-leaf-a"]["reasons"] == ["parent fx-middle rebuilt"]
    assert content["fx-base"]["action"] == "up-to-date"

    second = invoke(project, "build", "--all", "--json", env=env)
    statuses = _statuses(second)
    assert statuses == {
        "fx-base": "up-to-date",
        "fx-solo": "up-to-date",
        "fx-middle": "built",
        "fx-leaf-a": "built",
        "fx-leaf-b": "built",
    }
    new = _ids(second)
    assert new["fx-base"] == old["fx-base"]
    assert new["fx-middle"] != old["fx-middle"]


def test_build_args_dockerignore_and_force(project: Path, engine: Engine) -> None:
    hello = project / "images" / "fx-hello"
    (hello / ".dockerignore").write_text("notes.txt\n")
    (hello / "notes.txt").write_text("first\n")
    _commit(project, "ignore notes")
    assert _statuses(invoke(project, "build", "--image", "fx-hello", "--json")) == {
        "fx-hello": "built"
    }

    # A file the build cannot see changes nothing.
    (hello / "notes.txt").write_text("second\n")
    _commit(project, "notes")
    assert _statuses(invoke(project, "build", "--image", "fx-hello", "--json")) == {
        "fx-hello": "up-to-date"
    }

    # A build arg is an input: another value is another image (and plan says which arg).
    content = _content(project, {}, "--image", "fx-hello", "--build-arg", "GREETING=hi")
    assert content["fx-hello"]["reasons"] == ["build args changed: GREETING"]
    assert _statuses(
        invoke(project, "build", "--image", "fx-hello", "--build-arg", "GREETING=hi", "--json")
    ) == {"fx-hello": "built"}

    # --force builds whatever the key says.
    assert _statuses(invoke(project, "build", "--image", "fx-hello", "--force", "--json")) == {
        "fx-hello": "built"
    }


def _local_base(engine: Engine, project: Path, tmp_path: Path, marker: str) -> str:
    """A local image outside the repository (scratch, busybox and a marker file): its ID."""
    context = tmp_path / f"base-{marker}"
    context.mkdir()
    (context / "busybox").write_bytes((project / "images" / "fx-hello" / "busybox").read_bytes())
    (context / "marker").write_text(marker)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\nCOPY marker /\n")
    image, _ = engine.client.images.build(path=str(context), rm=True)
    return str(image.id)


def test_a_local_base_retagged_to_another_image_rebuilds(
    project: Path, engine: Engine, tmp_path: Path
) -> None:
    base = "fx-localbase:1"
    first, second = (_local_base(engine, project, tmp_path, m) for m in ("one", "two"))
    try:
        engine.tag(first, "fx-localbase", "1")
        args = ("--image", "fx-hello", "--build-arg", f"BASE={base}")
        assert _statuses(invoke(project, "build", *args, "--json")) == {"fx-hello": "built"}
        assert _statuses(invoke(project, "build", *args, "--json")) == {"fx-hello": "up-to-date"}

        # The same reference now names another image: the base moved, the image is rebuilt.
        engine.tag(second, "fx-localbase", "1")
        content = _content(project, {}, *args)
        assert content["fx-hello"]["reasons"] == [f"base {base} moved"]
        assert _statuses(invoke(project, "build", *args, "--json")) == {"fx-hello": "built"}
    finally:
        engine.remove(base)
        for image_id in (first, second):
            engine.remove(image_id)


def test_a_child_alone_builds_its_out_of_date_parent_first(
    family: tuple[Path, dict[str, str]], engine: Engine
) -> None:
    project, env = family
    _statuses(invoke(project, "build", "--all", "--json", env=env))
    base = project / "images" / "fx-base" / "marker"
    base.write_text("base v2\n")
    _commit(project, "base v2")

    refused = invoke(project, "build", "--image", "fx-middle", "--no-deps", env=env)
    assert refused.code == 2, refused.output
    assert "fx-middle builds on fx-base, whose image is out of date" in refused.stderr

    result = invoke(project, "build", "--image", "fx-middle", "--json", env=env)
    assert "building parent fx-base first" in result.stderr
    assert _statuses(result) == {"fx-base": "built", "fx-middle": "built"}
    sha = git(project, "rev-parse", "HEAD")
    output: bytes = engine.client.containers.run(
        f"fx-middle:{sha}", ["cat", "/etc/fx-middle-saw"], remove=True
    )
    assert output.decode().strip() == "base v2"


def test_content_in_the_registry_is_neither_pulled_nor_built(
    family: tuple[Path, dict[str, str]],
    engine: Engine,
    spy: tuple[dict[str, str], Path],
) -> None:
    """A second engine state (local images gone, registry kept): nothing is rebuilt or pulled;
    push tags the registry's manifests; test pulls what it runs."""
    from imagefleet import registry as registry_mod
    from imagefleet.reference import parse_target

    project, env = family
    target = parse_target(env["INVOKE_FLEET_REGISTRY"])
    assert set(_statuses(invoke(project, "build", "--all", "--json", env=env)).values()) == {
        "built"
    }
    pushed = invoke(project, "push", "--all", "--json", env=env)
    assert pushed.code == 0, pushed.output
    first = {n: registry_mod.find(target, n, git(project, "rev-parse", "HEAD")) for n in FAMILY}
    assert all(first.values())

    # Another machine: no local image of the family at all.
    for image in engine.client.images.list():
        for ref in image.tags:
            if ref.rsplit(":", 1)[0].rsplit("/", 1)[-1] in FAMILY:
                engine.remove(ref)
    (project / "NOTES.md").write_text("a commit that changes no image\n")
    _commit(project, "notes")
    sha = git(project, "rev-parse", "HEAD")

    extra, log = spy
    registry = ("--registry", env["INVOKE_FLEET_REGISTRY"])
    result = invoke(project, "build", "--all", *registry, "--json", env={**env, **extra})
    assert set(_statuses(result).values()) == {"up-to-date"}
    references = {o["image"]: o["reference"] for o in json.loads(result.stdout)}
    assert all(f"@{first[n]}" in str(references[n]) for n in FAMILY)
    assert _builds(log) == []
    assert all(engine.image_id(f"{n}:{sha}") is None for n in FAMILY), "something was pulled"

    # push adds the new commit's tags to the registry's manifests: with no local image there is
    # nothing it could upload, and nothing is pulled for it either.
    again = invoke(project, "push", "--all", env=env)
    assert again.code == 0, again.output
    assert {n: registry_mod.find(target, n, sha) for n in FAMILY} == first
    assert all(engine.image_id(f"{n}:{sha}") is None for n in FAMILY)

    # test pulls the image it runs.
    tested = invoke(project, "test", "--image", "fx-middle", *registry, env=env)
    assert tested.code == 0, tested.output
    assert engine.image_id(f"fx-middle:{sha}") is not None
