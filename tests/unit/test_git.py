"""The git seam: commit, dirtiness, branch and origin, on real throwaway repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet import git as git_mod
from imagefleet.errors import GitError
from tests.helpers import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_checkout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = git_mod.state(repo)
    assert state.sha == git(repo, "rev-parse", "HEAD")
    assert state.short_sha == state.sha[:12]
    assert not state.dirty
    assert state.branch == "main"
    assert state.origin is None
    assert int(state.committed_at.timestamp()) == int(git(repo, "log", "-1", "--format=%ct"))


def test_untracked_and_modified_files_make_it_dirty(repo: Path) -> None:
    (repo / "new.txt").write_text("x", encoding="utf-8")
    assert git_mod.state(repo).dirty
    (repo / "new.txt").unlink()
    (repo / "a.txt").write_text("changed\n", encoding="utf-8")
    assert git_mod.state(repo).dirty


def test_detached_head_takes_the_branch_from_github_actions(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "checkout", "-q", "--detach")
    monkeypatch.delenv("GITHUB_REF_TYPE", raising=False)
    assert git_mod.state(repo).branch is None
    monkeypatch.setenv("GITHUB_REF_TYPE", "branch")
    monkeypatch.setenv("GITHUB_REF_NAME", "release/1.x")
    assert git_mod.state(repo).branch == "release/1.x"
    monkeypatch.setenv("GITHUB_REF_TYPE", "tag")
    assert git_mod.state(repo).branch is None


@pytest.mark.parametrize(
    ("remote", "shown"),
    [
        ("https://user:t0ken@github.com/acme/images.git", "https://github.com/acme/images"),
        ("git@github.com:acme/images.git", "https://github.com/acme/images"),
        ("https://example.invalid/acme/images", "https://example.invalid/acme/images"),
        ("https://github.com/acme/images.git", "https://github.com/acme/images"),
        ("ssh://git@github.com:22/acme/images.git", "https://github.com/acme/images"),
        ("git://example.invalid/acme/images.git/", "https://example.invalid/acme/images"),
        ("http://git.local:3000/acme/images.git", "http://git.local:3000/acme/images"),
        ("example.invalid:acme/images.git", "https://example.invalid/acme/images"),
    ],
)
def test_origin_is_a_web_url_without_credentials(repo: Path, remote: str, shown: str) -> None:
    git(repo, "remote", "add", "origin", remote)
    assert git_mod.state(repo).origin == shown


@pytest.mark.parametrize(
    "remote", ["/srv/git/images.git", "../images", "./a:b", "file:///srv/git/images.git", "C:/x"]
)
def test_a_local_path_remote_is_no_source(repo: Path, remote: str) -> None:
    # `git clone /work/main` leaves such an origin: a path is no source a reader can open.
    git(repo, "remote", "add", "origin", remote)
    assert git_mod.state(repo).origin is None
    assert git_mod.web_url(remote) is None


def test_not_a_checkout(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not a git checkout with a commit") as caught:
        git_mod.state(tmp_path)
    assert "git init" in caught.value.hint


def test_failed_command_quotes_git(repo: Path) -> None:
    with pytest.raises(GitError, match=r"git rev-parse --verify nope failed: fatal: "):
        git_mod.run_git(repo, "rev-parse", "--verify", "nope")


def test_missing_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))  # a PATH without git
    with pytest.raises(GitError, match="git is not installed"):
        git_mod.run_git(repo, "status")


def test_state_and_tags_read_early_are_what_a_read_now_says(repo: Path) -> None:
    git(repo, "tag", "app-v1.0.0")
    git_mod.ask_early(repo)
    early_state, early_tags = git_mod.state(repo), git_mod.tag_listing(repo)
    assert early_state == git_mod.state(repo)  # the second read is a read now
    assert early_tags == git_mod.tag_listing(repo)
    assert early_tags.split("\0")[0] == "app-v1.0.0"


def test_an_early_read_is_taken_once(repo: Path) -> None:
    git_mod.ask_early(repo)
    before = git_mod.state(repo)
    (repo / "b.txt").write_text("b\n", encoding="utf-8")
    assert not before.dirty
    assert git_mod.state(repo).dirty


def test_an_early_read_outside_a_checkout_fails_where_the_state_is_read(tmp_path: Path) -> None:
    git_mod.ask_early(tmp_path)
    with pytest.raises(GitError, match="not a git checkout"):
        git_mod.state(tmp_path)
