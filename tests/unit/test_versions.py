"""Semver order and bumps, and the release-tag index read from git."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet.versions import Bump, bump, index, parse_tag, version_key
from tests.helpers import git


@pytest.mark.parametrize(
    ("version", "level", "expected"),
    [
        ("1.2.3", Bump.PATCH, "1.2.4"),
        ("1.2.3", Bump.MINOR, "1.3.0"),
        ("1.2.3", Bump.MAJOR, "2.0.0"),
        ("0.3.1", Bump.MAJOR, "0.4.0"),  # before 1.0.0 a breaking change bumps the minor
        ("0.3.1", Bump.MINOR, "0.4.0"),
        ("1.0.0-rc.1", Bump.PATCH, "1.0.0"),
        ("1.0.0-rc.1", Bump.MAJOR, "1.0.0"),
        ("1.2.3", Bump.NONE, "1.2.3"),
    ],
)
def test_bump(version: str, level: Bump, expected: str) -> None:
    assert bump(version, level) == expected


def test_semver_precedence() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.10.0"]
    shuffled = [ordered[i] for i in (4, 1, 5, 0, 3, 2)]
    assert sorted(shuffled, key=version_key) == ordered


def test_parse_tag_knows_image_names_with_dashes() -> None:
    names = {"rust-ci-runner", "rust"}
    assert parse_tag("rust-ci-runner-v1.2.3", names) == ("rust-ci-runner", "1.2.3")
    assert parse_tag("rust-v0.1.0-rc.1", names) == ("rust", "0.1.0-rc.1")
    assert parse_tag("other-v1.0.0", names) is None
    assert parse_tag("rust-vnext", names) is None


def test_index_reads_annotated_and_lightweight_tags_once(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    first = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "tag", "-a", "-m", "notes", "app-v1.0.0")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "two")
    second = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "tag", "app-v1.1.0")
    git(tmp_path, "tag", "app-v1.0.1", first)
    git(tmp_path, "tag", "unrelated")
    releases = index(tmp_path, ["app"])
    assert [r.version for r in releases.of("app")] == ["1.1.0", "1.0.1", "1.0.0"]
    assert releases.at("app", first) is not None
    assert releases.at("app", first).version == "1.0.1"  # type: ignore[union-attr]
    assert releases.latest("app").commit == second  # type: ignore[union-attr]
    assert releases.version_tags("app", second) == ("1.1.0", "1.1", "1")
    # 1.0.1 is the newest of 1.0 but not of 1: it keeps :1.0, never takes :1 back.
    assert releases.version_tags("app", first) == ("1.0.1", "1.0")
    assert "unrelated" in releases.tags
