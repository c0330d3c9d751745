"""Content keys: what goes into a key, what changes it, and why a rebuild is needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet import content
from imagefleet.catalog import discover
from imagefleet.git import GitState
from imagefleet.graph import Graph
from imagefleet.plan import ImagePlan, plan_images
from imagefleet.reference import parse_target
from imagefleet.settings import Settings
from imagefleet.tags import TagSet

TARGET = parse_target("localhost:5000/fleet")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    base = tmp_path / "images" / "base"
    base.mkdir(parents=True)
    (base / "Dockerfile").write_text("ARG FLAVOUR=plain\nFROM alpine:3.22.5\nCOPY data /data\n")
    (base / "data").write_text("one\n")
    child = tmp_path / "images" / "child"
    child.mkdir()
    (child / "Dockerfile").write_text("FROM localhost:5000/fleet/base:latest\nRUN true\n")
    return tmp_path


def _plans(root: Path, git_sha: str = "a" * 40, **cli: str) -> list[ImagePlan]:
    catalog = discover(root / "images")
    settings = Settings(root=root, images_dir=root / "images", target=TARGET)
    git = GitState(git_sha, False, "main", datetime(2026, 1, 2, tzinfo=UTC), None)
    return plan_images(list(catalog.images), settings, git, cli_args=cli)


def _files(context: Path, dockerfile: Path) -> Sequence[str]:
    return sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())


def test_context_files_lists_what_the_build_sees(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "target").mkdir()
    for name in ("Dockerfile", "a.txt", "sub/b.txt", "sub/deep/c.txt", "target/d.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "linked").symlink_to(tmp_path / "target")
    every = ["Dockerfile", "a.txt", "linked", "sub/b.txt", "sub/deep/c.txt", "target/d.txt"]
    assert content.context_files(tmp_path, tmp_path / "Dockerfile") == every
    (tmp_path / ".dockerignore").write_text("# comment\nsub/deep\n*.txt\n!sub/b.txt\nDockerfile\n")
    # The Dockerfile and .dockerignore are always sent, as the Docker CLI does.
    assert content.context_files(tmp_path, tmp_path / "Dockerfile") == [
        ".dockerignore",
        "Dockerfile",
        "linked",
        "sub/b.txt",
        "target/d.txt",
    ]


def _keys(
    root: Path, plans: list[ImagePlan], bases: dict[str, str] | None = None
) -> dict[str, str]:
    graph = Graph.build(discover(root / "images"), (TARGET,))
    keys = content.Keys(graph, _files, (bases or {}).get)
    by_name = {p.name: p for p in plans}
    return {p.name: keys.of(p, by_name).digest for p in plans}


def test_keys_are_stable_across_commits(project: Path) -> None:
    # revision, created and a commit-derived version are not inputs: a new commit that changes
    # no file of an image keeps its key.
    assert _keys(project, _plans(project, "a" * 40)) == _keys(project, _plans(project, "b" * 40))


def test_a_file_change_moves_the_image_and_its_children(project: Path) -> None:
    before = _keys(project, _plans(project))
    (project / "images" / "base" / "data").write_text("two\n")
    after = _keys(project, _plans(project))
    assert before["base"] != after["base"]
    assert before["child"] != after["child"]  # the parent's key is an input


def test_build_args_and_bases_are_inputs(project: Path) -> None:
    plain = _keys(project, _plans(project))
    assert _keys(project, _plans(project, FLAVOUR="fancy"))["base"] != plain["base"]
    moved = _keys(project, _plans(project), bases={"alpine:3.22.5": "sha256:" + "1" * 64})
    assert moved["base"] != plain["base"]
    assert (
        moved["base"]
        != _keys(project, _plans(project), {"alpine:3.22.5": "sha256:" + "2" * 64})["base"]
    )


def test_a_secret_value_is_no_input(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ids and variable names are inputs through image.yml, a file of the context; values never.
    manifest = project / "images" / "base" / "image.yml"
    manifest.write_text("secrets:\n  token:\n    env: FX_TOKEN\n")
    monkeypatch.setenv("FX_TOKEN", "one")
    with_secret = _keys(project, _plans(project))
    monkeypatch.setenv("FX_TOKEN", "two")  # another value: the same content
    assert _keys(project, _plans(project)) == with_secret
    monkeypatch.delenv("FX_TOKEN")
    assert _keys(project, _plans(project)) == with_secret
    manifest.write_text("secrets:\n  token:\n    env: FX_OTHER_TOKEN\n")
    assert _keys(project, _plans(project))["base"] != with_secret["base"]


def test_reasons_name_files_parents_bases_and_args(project: Path) -> None:
    graph = Graph.build(discover(project / "images"), (TARGET,))
    plans = {p.name: p for p in _plans(project)}
    old = content.Keys(graph, _files, lambda _: "sha256:old")
    old_base, old_child = old.of(plans["base"], plans), old.of(plans["child"], plans)
    (project / "images" / "base" / "data").write_text("two\n")
    plans = {p.name: p for p in _plans(project, FLAVOUR="fancy")}
    new = content.Keys(graph, _files, lambda _: "sha256:new")
    reasons = new.of(plans["base"], plans).changes_since(old_base.inputs_label())
    assert reasons == [
        "files changed: data",
        "base alpine:3.22.5 moved",
        "build args changed: FLAVOUR",
    ]
    assert new.of(plans["child"], plans).changes_since(old_child.inputs_label()) == [
        "parent base rebuilt"
    ]
    assert new.of(plans["base"], plans).changes_since(None) == [
        "no image of this image's content yet"
    ]


def test_decide_reuses_what_exists_and_forces_on_request(project: Path) -> None:
    graph = Graph.build(discover(project / "images"), (TARGET,))
    plans = _plans(project)
    keys = content.Keys(graph, _files, lambda _: None)
    by_name = {p.name: p for p in plans}
    base_key = keys.of(by_name["base"], by_name)
    existing = [
        content.Existing(
            "sha256:b", "base", base_key.digest, base_key.inputs_label(), "1", ("x:y",)
        )
    ]
    decisions = {d.plan.name: d for d in content.decide(plans, keys, existing)}
    assert decisions["base"].up_to_date
    assert decisions["base"].image_id == "sha256:b"
    assert decisions["base"].local_tags == ("x:y",)
    assert decisions["child"].action == "build"
    forced = {d.plan.name: d for d in content.decide(plans, keys, existing, force=["base"])}
    assert forced["base"].reasons == ("--force",)
    remote = content.decide(plans, keys, [], in_registry=lambda p, k: f"reg/{p.name}@sha256:r")
    assert all(d.up_to_date and d.remote for d in remote)


def test_existing_images_read_from_a_listing() -> None:
    rows: list[dict[str, object]] = [
        {
            "Id": "sha256:1",
            "Labels": {content.KEY_LABEL: "k", "org.opencontainers.image.title": "a"},
        },
        {"Id": "sha256:2", "Labels": {"other": "x"}},
        {"Id": "sha256:3", "Labels": None},
    ]
    [found] = content.existing_images(rows)
    assert (found.image_id, found.name, found.key) == ("sha256:1", "a", "k")


def test_key_tag_goes_before_latest() -> None:
    tags = TagSet("s", ("s", "sha-1", "latest"))
    assert content.with_key_tag(tags, "f" * 64).tags == ("s", "sha-1", "key-" + "f" * 32, "latest")
    assert content.with_key_tag(tags, None) is tags


def test_digest_cache_reads_a_file_only_when_it_changed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("one\n")
    store = tmp_path / "cache" / "digests.json"
    first = content.DigestCache(store)
    digest = first.digest(data)
    first.save()
    assert store.is_file()

    second = content.DigestCache(store)
    assert second.digest(data) == digest
    assert not second.dirty  # answered from the cache: the file was not read

    data.write_text("two\n")  # another size: the entry no longer holds
    assert second.digest(data) != digest
    assert second.dirty

    # Same size, new modification time: read again.
    stat = data.stat()
    data.write_text("six\n")
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    third = content.DigestCache(None)
    assert third.digest(data) == second.digest(data)


def test_a_broken_cache_file_is_ignored(tmp_path: Path) -> None:
    store = tmp_path / "digests.json"
    store.write_text("{not json")
    cache = content.DigestCache(store)
    data = tmp_path / "data"
    data.write_text("x")
    assert cache.digest(data).startswith("-")
    cache.save()
    assert content.DigestCache(store).entries


def test_reasons_are_told_against_the_closest_earlier_image(project: Path) -> None:
    graph = Graph.build(discover(project / "images"), (TARGET,))
    before = {p.name: p for p in _plans(project)}
    keys = content.Keys(graph, _files, lambda _: None)
    close = keys.of(before["base"], before)
    other_plans = {p.name: p for p in _plans(project, FLAVOUR="fancy")}
    far = content.Keys(graph, _files, lambda _: None).of(other_plans["base"], other_plans)
    (project / "images" / "base" / "data").write_text("two\n")
    now = _plans(project)
    existing = [
        # The newest image of the name comes from other args (another checkout, say)...
        content.Existing("sha256:far", "base", far.digest, far.inputs_label(), "2", ()),
        content.Existing("sha256:close", "base", close.digest, close.inputs_label(), "1", ()),
    ]
    fresh = content.Keys(graph, _files, lambda _: None)
    decisions = {d.plan.name: d for d in content.decide(now, fresh, existing)}
    # ...but the reason is the one file that changed since the closest image.
    assert decisions["base"].reasons == ("files changed: data",)
