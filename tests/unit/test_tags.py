from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet import schema
from imagefleet.catalog import Image
from imagefleet.dockerfile import parse
from imagefleet.git import GitState
from imagefleet.tags import policy, version_tags
from imagefleet.versions import Release, Releases, version_key

SHA = "0123456789abcdef0123456789abcdef01234567"


def _image(**manifest: object) -> Image:
    return Image(
        name="helm-deploy",
        directory=Path("images/helm-deploy"),
        manifest=schema.manifest(manifest),
        dockerfile=parse(Path("Dockerfile"), "FROM scratch\n"),
    )


def _git(*, dirty: bool = False, branch: str | None = "main") -> GitState:
    return GitState(
        sha=SHA, dirty=dirty, branch=branch, committed_at=datetime(2026, 1, 2, tzinfo=UTC)
    )


def test_default_branch_gets_sha_tags_and_latest_last() -> None:
    tags = policy(_image(), _git(), default_branch="main")
    assert tags.tags == (SHA, "sha-0123456789ab", "latest")
    assert tags.primary == SHA
    assert tags.moves_latest
    assert tags.before_latest == (SHA, "sha-0123456789ab")


def test_other_branch_and_detached_head_get_no_latest() -> None:
    assert policy(_image(), _git(branch="feature/x"), default_branch="main").tags == (
        SHA,
        "sha-0123456789ab",
    )
    assert not policy(_image(), _git(branch=None), default_branch="main").moves_latest


def test_forced_latest_off_the_default_branch() -> None:
    tags = policy(_image(), _git(branch="release"), default_branch="main", force_latest=True)
    assert tags.tags[-1] == "latest"


def test_semver_gives_version_minor_and_major_then_extras() -> None:
    tags = policy(_image(version="2.5.1", tags=["stable"]), _git(), default_branch="main")
    assert tags.tags == (SHA, "sha-0123456789ab", "2.5.1", "2.5", "2", "stable", "latest")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2.3", ("1.2.3", "1.2", "1")),
        ("0.4.1", ("0.4.1", "0.4")),
        ("1.0.0-rc.1", ("1.0.0-rc.1",)),
        ("1.2.3+build.7", ("1.2.3_build.7", "1.2", "1")),
        ("not-semver", ()),
    ],
)
def test_version_tags(version: str, expected: tuple[str, ...]) -> None:
    assert version_tags(version) == expected


def test_dirty_tree_gets_a_marker_and_nothing_clean(caplog: pytest.LogCaptureFixture) -> None:
    tags = policy(
        _image(version="1.0.0", tags=["stable"]),
        _git(dirty=True),
        default_branch="main",
        force_latest=True,
    )
    assert tags.tags == (f"{SHA}-dirty", "sha-0123456789ab-dirty")
    assert tags.primary == f"{SHA}-dirty"
    assert SHA not in tags.tags
    assert "latest" not in tags.tags
    assert "uncommitted changes" in caplog.text


def _releases(*tags: tuple[str, str]) -> Releases:
    return Releases(
        by_image={
            "helm-deploy": tuple(
                sorted(
                    (Release("helm-deploy", v, f"helm-deploy-v{v}", c) for v, c in tags),
                    key=lambda r: version_key(r.version),
                    reverse=True,
                )
            )
        }
    )


def test_version_tags_come_from_the_release_tag_at_this_commit() -> None:
    releases = _releases(("1.4.0", SHA), ("1.3.0", "f" * 40))
    tags = policy(_image(version="9.9.9"), _git(), default_branch="main", releases=releases)
    assert tags.tags == (SHA, "sha-0123456789ab", "1.4.0", "1.4", "1", "latest")
    assert tags.version == "1.4.0"


def test_an_unreleased_commit_gets_sha_tags_only_not_the_manifest_version() -> None:
    releases = _releases(("1.3.0", "f" * 40))
    tags = policy(_image(version="9.9.9"), _git(), default_branch="main", releases=releases)
    assert tags.tags == (SHA, "sha-0123456789ab", "latest")
    assert tags.version is None


def test_an_older_release_rebuilt_keeps_its_minor_line_only() -> None:
    releases = _releases(("2.0.0", "f" * 40), ("1.5.0", "e" * 40), ("1.4.1", SHA))
    tags = policy(_image(), _git(), default_branch="main", releases=releases)
    assert tags.tags == (SHA, "sha-0123456789ab", "1.4.1", "1.4", "latest")


def test_the_manifest_version_is_the_fallback_without_release_tags() -> None:
    tags = policy(_image(version="2.5.1"), _git(), default_branch="main", releases=Releases())
    assert tags.tags == (SHA, "sha-0123456789ab", "2.5.1", "2.5", "2", "latest")
