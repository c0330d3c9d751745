"""Per-image releases on synthetic git histories made with the real git in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet import release, versions
from imagefleet.catalog import discover
from imagefleet.errors import ShallowCloneError
from imagefleet.graph import Graph
from imagefleet.reference import parse_target
from imagefleet.settings import Settings
from tests.helpers import git, invoke

TARGET = parse_target("ghcr.io/webgrip")


def _settings(root: Path) -> Settings:
    return Settings(
        root=root, images_dir=root / "images", target=TARGET, global_paths=("shared/*",)
    )


def _write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


def _commit(root: Path, message: str, *files: str) -> str:
    for f in files or ("touch",):
        _write(root, f, f"{message}\n{(root / f).read_text() if (root / f).exists() else ''}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """base (version 1.2.0 in image.yml) ← child (no version); solo (version 0.3.0)."""
    git(tmp_path, "init", "-q", "-b", "main")
    _write(tmp_path, "images/base/Dockerfile", "FROM alpine:3.21.3\n")
    _write(tmp_path, "images/base/image.yml", 'version: "1.2.0"\n')
    _write(tmp_path, "images/child/Dockerfile", "FROM ghcr.io/webgrip/base:latest\n")
    _write(tmp_path, "images/solo/Dockerfile", "FROM scratch\n")
    _write(tmp_path, "images/solo/image.yml", 'version: "0.3.0"\n')
    _write(tmp_path, "shared/entrypoint.sh", "#!/bin/sh\n")
    _commit(tmp_path, "chore: initial")
    return tmp_path


def _decide(root: Path, *names: str) -> dict[str, release.Decision]:
    settings = _settings(root)
    catalog = discover(settings.images_dir)
    graph = Graph.build(catalog, settings.targets)
    chosen = [n for wave in graph.waves(names or None) for n in wave]
    head = git(root, "rev-parse", "HEAD")
    found = release.decide(settings, graph, chosen, versions.index(root, catalog.names), head)
    return {d.image: d for d in found}


def _release(root: Path, *names: str) -> dict[str, release.Decision]:
    decided = _decide(root, *names)
    release.create_tags(root, list(decided.values()))
    return decided


def _next(root: Path, *names: str) -> dict[str, str | None]:
    return {name: d.next for name, d in _decide(root, *names).items()}


def test_first_release_uses_the_manifest_version_else_0_1_0(repo: Path) -> None:
    decided = _release(repo)
    assert {n: (d.current, d.next) for n, d in decided.items()} == {
        "base": (None, "1.2.0"),
        "child": (None, "0.1.0"),
        "solo": (None, "0.3.0"),
    }
    assert decided["base"].as_dict()["bump"] == "first"
    assert git(repo, "tag", "--list").split() == ["base-v1.2.0", "child-v0.1.0", "solo-v0.3.0"]
    assert git(repo, "cat-file", "-t", "base-v1.2.0") == "tag"  # annotated


def test_a_rerun_releases_nothing(repo: Path) -> None:
    _release(repo)
    again = _decide(repo)
    assert not any(d.releases for d in again.values())
    assert {d.reason for d in again.values()} == {"released"}
    assert release.create_tags(repo, list(again.values())) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("feat: add a tool", "1.3.0"),
        ("fix: repair", "1.2.1"),
        ("perf: faster", "1.2.1"),
        ("feat(api): scoped", "1.3.0"),
        ("fix(base,child): two scopes", "1.2.1"),
        ("feat!: drop the old entrypoint", "2.0.0"),
        ("fix(api)!: breaking fix", "2.0.0"),
        ("refactor: tidy\n\nBREAKING CHANGE: the config moved", "2.0.0"),
        ("chore: deps\n\nbody\n\nBREAKING-CHANGE: gone", "2.0.0"),
        ("docs: readme", None),
        ("chore: housekeeping", None),
        ("not a conventional commit", None),
        ("Feat: capitalised type is not a type", None),
    ],
)
def test_header_forms_and_footers(repo: Path, header: str, expected: str | None) -> None:
    _release(repo)
    _commit(repo, header, "images/base/file")
    assert _next(repo, "base")["base"] == expected


def test_the_largest_bump_wins_and_the_commits_are_listed(repo: Path) -> None:
    _release(repo)
    fix = _commit(repo, "fix: one", "images/base/a")
    feat = _commit(repo, "feat(x): two", "images/base/b")
    _commit(repo, "docs: three", "images/base/c")
    decision = _decide(repo, "base")["base"]
    assert (decision.current, decision.next, str(decision.bump)) == ("1.2.0", "1.3.0", "minor")
    assert [c["sha"] for c in decision.as_dict()["commits"]] == [fix, feat]


def test_commits_outside_an_image_release_nothing_global_paths_release_all(repo: Path) -> None:
    _release(repo)
    _commit(repo, "feat: readme", "README.md")
    assert _next(repo) == {"base": None, "child": None, "solo": None}
    _commit(repo, "fix: shared entrypoint", "shared/entrypoint.sh")
    assert _next(repo) == {"base": "1.2.1", "child": "0.1.1", "solo": "0.3.1"}


def test_before_1_0_a_breaking_change_bumps_the_minor(repo: Path) -> None:
    _release(repo)
    _commit(repo, "feat!: breaking", "images/solo/x")
    assert _next(repo, "solo")["solo"] == "0.4.0"


def test_a_parent_release_gives_the_child_at_least_a_patch(repo: Path) -> None:
    _release(repo)
    _commit(repo, "feat: new tool", "images/base/tool")
    decided = _decide(repo)
    assert (decided["base"].next, decided["child"].next, decided["solo"].next) == (
        "1.3.0",
        "0.1.1",
        None,
    )
    assert decided["child"].parents == ("base 1.3.0",)
    assert "### Dependencies\n\n- builds on base 1.3.0" in decided["child"].notes()


def test_a_parent_released_in_an_earlier_run_still_bumps_the_child(repo: Path) -> None:
    _release(repo)
    _commit(repo, "fix: base only", "images/base/tool")
    assert _release(repo, "base")["base"].next == "1.2.1"  # the child was not selected
    child = _decide(repo, "child")["child"]
    assert (child.next, child.parents) == ("0.1.1", ("base 1.2.1",))


def test_the_child_own_bump_wins_over_the_parent_patch(repo: Path) -> None:
    _release(repo)
    _commit(repo, "fix: base", "images/base/tool")
    _commit(repo, "feat: child", "images/child/tool")
    assert _next(repo) == {"base": "1.2.1", "child": "0.2.0", "solo": None}


def test_two_images_in_one_run_get_their_own_versions_and_notes(repo: Path) -> None:
    _release(repo)
    fix = _commit(repo, "fix(solo): crash", "images/solo/a")
    feat = _commit(repo, "feat(base): tool\n\nBREAKING CHANGE: renamed", "images/base/a")
    decided = _release(repo, "base", "solo")
    assert (decided["base"].next, decided["solo"].next) == ("2.0.0", "0.3.1")
    notes = git(repo, "tag", "--list", "--format=%(contents)", "base-v2.0.0")
    assert notes.startswith("base 2.0.0\n\n### Breaking changes\n\n")
    assert f"- **base:** tool ({feat[:7]})\n  BREAKING CHANGE: renamed" in notes
    solo = git(repo, "tag", "--list", "--format=%(contents)", "solo-v0.3.1")
    assert f"### Bug fixes\n\n- **solo:** crash ({fix[:7]})" in solo


def test_merges_count_the_merged_commits_once_and_not_the_merge(repo: Path) -> None:
    _release(repo)
    git(repo, "checkout", "-q", "-b", "topic")
    feat = _commit(repo, "feat: on a branch", "images/base/branch")
    git(repo, "checkout", "-q", "main")
    fix = _commit(repo, "fix: on main", "images/base/main")
    git(repo, "merge", "-q", "--no-ff", "-m", "feat!: a merge message is not a change", "topic")
    decision = _decide(repo, "base")["base"]
    assert decision.next == "1.3.0"
    assert sorted(c.sha for c in decision.changes) == sorted([feat, fix])


def test_a_squash_merge_body_counts_each_change(repo: Path) -> None:
    _release(repo)
    _commit(
        repo,
        "fix: the pull request title (#12)\n\n* fix: first part\n\n* feat(x): second part",
        "images/base/a",
    )
    assert _next(repo, "base")["base"] == "1.3.0"


def test_a_revert_inside_the_range_cancels_both(repo: Path) -> None:
    _release(repo)
    feat = _commit(repo, "feat: risky", "images/base/risky")
    git(repo, "revert", "--no-edit", feat)
    decision = _decide(repo, "base")["base"]
    assert (decision.next, decision.changes) == (None, ())


def test_a_revert_of_a_revert_restores_the_change(repo: Path) -> None:
    _release(repo)
    feat = _commit(repo, "feat: risky", "images/base/risky")
    git(repo, "revert", "--no-edit", feat)
    git(repo, "revert", "--no-edit", "HEAD")
    decision = _decide(repo, "base")["base"]
    assert decision.next == "1.3.0"
    assert [c.sha for c in decision.changes] == [feat]


def test_reverting_a_released_change_is_a_patch(repo: Path) -> None:
    feat = _commit(repo, "feat: shipped", "images/base/shipped")
    _release(repo)
    git(repo, "revert", "--no-edit", feat)
    decision = _decide(repo, "base")["base"]
    assert (decision.next, [c.type for c in decision.changes]) == ("1.2.1", ["revert"])
    assert "### Reverts" in decision.notes()


def test_changelog_is_written_once(repo: Path) -> None:
    _release(repo)
    _commit(repo, "feat: one", "images/base/a")
    decision = _decide(repo, "base")["base"]
    path = repo / "images" / "base" / release.CHANGELOG
    path.write_text("# Changelog\n\n## 1.2.0 (2025-01-01)\n\nolder\n")
    when = datetime(2026, 3, 4, tzinfo=UTC)
    assert release.write_changelog(path, decision, when)
    assert not release.write_changelog(path, decision, when)
    text = path.read_text()
    assert text.startswith("# Changelog\n\n## 1.3.0 (2026-03-04)\n\n#### Features\n\n- one (")
    assert text.endswith("## 1.2.0 (2025-01-01)\n\nolder\n")


def test_a_shallow_clone_is_a_clear_error(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _commit(repo, "feat: more", "images/base/a")
    clone = tmp_path_factory.mktemp("clone") / "shallow"
    git(repo.parent, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    with pytest.raises(ShallowCloneError) as caught:
        _decide(clone)
    assert caught.value.exit_code == 3
    assert "fetch-depth: 0" in caught.value.hint


def test_tags_are_pushed_atomically(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    remote = tmp_path_factory.mktemp("remote")
    git(remote, "init", "-q", "--bare")
    git(repo, "remote", "add", "origin", str(remote))
    tags = release.create_tags(repo, list(_decide(repo).values()))
    release.push_tags(repo, "origin", tags)
    assert sorted(git(remote, "tag", "--list").split()) == sorted(tags)


def test_dry_run_json_shape_and_nothing_tagged(repo: Path) -> None:
    _release(repo)
    feat = _commit(repo, "feat(base): tool", "images/base/a")
    result = invoke(repo, "release", "--all", "--dry-run", "--json")
    assert result.code == 0, result.output
    out = json.loads(result.stdout)
    assert out["dry_run"] is True
    assert out["created"] == []
    by_image = {i["image"]: i for i in out["images"]}
    assert by_image["base"] == {
        "image": "base",
        "current": "1.2.0",
        "next": "1.3.0",
        "bump": "minor",
        "tag": "base-v1.3.0",
        "commit": feat,
        "reason": "1 releasable commit",
        "parents": [],
        "commits": [
            {
                "sha": feat,
                "header": "feat(base): tool",
                "type": "feat",
                "scopes": ["base"],
                "bump": "minor",
                "breaking": [],
                "note": None,
            }
        ],
    }
    assert by_image["child"]["next"] == "0.1.1"
    assert by_image["solo"]["next"] is None
    assert "base-v1.3.0" not in git(repo, "tag", "--list")


def test_the_task_releases_and_a_rerun_does_nothing(repo: Path) -> None:
    first = invoke(repo, "release", "--image", "solo")
    assert first.code == 0, first.output
    assert "released solo 0.3.0" in first.stderr
    again = invoke(repo, "release", "--image", "solo", "--json")
    assert json.loads(again.stdout)["created"] == []


def test_the_task_in_a_shallow_clone_exits_3(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _commit(repo, "feat: more", "images/base/a")
    clone = tmp_path_factory.mktemp("clone") / "shallow"
    git(repo.parent, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    result = invoke(clone, "release", "--all", "--dry-run")
    assert result.code == 3, result.output
    assert "error: " in result.stderr
    assert "shallow clone" in result.stderr
