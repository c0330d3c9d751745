"""Change detection over throwaway git repositories built by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imagefleet.catalog import discover
from imagefleet.changes import ChangeSet, detect
from imagefleet.graph import Graph
from imagefleet.reference import parse_target
from imagefleet.settings import Settings
from tests.helpers import git

TARGET = parse_target("ghcr.io/webgrip")


def _settings(root: Path, *global_paths: str) -> Settings:
    return Settings(root=root, images_dir=root / "images", target=TARGET, global_paths=global_paths)


def _image(root: Path, name: str, dockerfile: str) -> None:
    (root / "images" / name).mkdir(parents=True, exist_ok=True)
    (root / "images" / name / "Dockerfile").write_text(dockerfile)


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def _detect(root: Path, base: str, *global_paths: str, uncommitted: bool = False) -> ChangeSet:
    settings = _settings(root, *global_paths)
    catalog = discover(settings.images_dir)
    return detect(
        settings,
        catalog,
        Graph.build(catalog, settings.targets),
        base,
        include_uncommitted=uncommitted,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    _image(tmp_path, "base", "FROM alpine:3.21.3\n")
    _image(tmp_path, "middle", "FROM ghcr.io/webgrip/base:latest\n")
    _image(tmp_path, "leaf", "FROM ghcr.io/webgrip/middle:latest\n")
    _image(tmp_path, "solo", "FROM scratch\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "entrypoint.sh").write_text("#!/bin/sh\n")
    (tmp_path / "README.md").write_text("docs\n")
    _commit(tmp_path, "initial")
    return tmp_path


def test_change_to_base_affects_descendants_in_order(repo: Path) -> None:
    (repo / "images" / "base" / "Dockerfile").write_text("FROM alpine:3.22.1\n")
    _commit(repo, "bump base")
    result = _detect(repo, "HEAD~1")
    assert result.affected == ("base", "middle", "leaf")
    assert result.reasons == {
        "base": "images/base/Dockerfile changed",
        "middle": "builds on base",
        "leaf": "builds on base",
    }
    assert result.fallback is None
    assert result.matrix() == {
        "include": [{"image": "base"}, {"image": "middle"}, {"image": "leaf"}]
    }


def test_change_to_a_leaf_affects_only_it(repo: Path) -> None:
    (repo / "images" / "leaf" / "README.md").write_text("leaf docs\n")
    _commit(repo, "leaf docs")
    assert _detect(repo, "HEAD~1").affected == ("leaf",)


def test_files_outside_images_affect_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("more docs\n")
    _commit(repo, "docs")
    result = _detect(repo, "HEAD~1")
    assert (result.affected, result.files) == ((), ("README.md",))


def test_global_paths_affect_everything(repo: Path) -> None:
    (repo / "shared" / "entrypoint.sh").write_text('#!/bin/sh\nexec "$@"\n')
    _commit(repo, "shared script")
    result = _detect(repo, "HEAD~1", "shared/**")
    assert set(result.affected) == {"base", "middle", "leaf", "solo"}
    assert result.reasons["solo"] == "shared/entrypoint.sh changed (global path shared/**)"


def test_merge_base_of_a_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "images" / "solo" / "Dockerfile").write_text("FROM scratch\nLABEL x=y\n")
    _commit(repo, "feature change")
    git(repo, "checkout", "-q", "main")
    (repo / "images" / "middle" / "notes").write_text("main moved on\n")
    main_sha = _commit(repo, "main change")
    git(repo, "checkout", "-q", "feature")
    result = _detect(repo, "main")
    # Only what the branch changed since it forked, not what main did since.
    assert result.affected == ("solo",)
    assert result.merge_base != main_sha


def test_deleted_image_is_reported_not_built(repo: Path) -> None:
    shutil.rmtree(repo / "images" / "solo")
    _commit(repo, "remove solo")
    result = _detect(repo, "HEAD~1")
    assert (result.affected, result.deleted) == ((), ("solo",))


def test_uncommitted_changes_on_request(repo: Path) -> None:
    (repo / "images" / "solo" / "Dockerfile").write_text("FROM scratch\nUSER 1\n")
    _image(repo, "fresh", "FROM scratch\n")  # untracked
    assert _detect(repo, "HEAD").affected == ()
    assert set(_detect(repo, "HEAD", uncommitted=True).affected) == {"solo", "fresh"}


@pytest.mark.parametrize(
    ("base", "why"),
    [
        ("no-such-branch", "unknown base ref 'no-such-branch'"),
        ("HEAD~5", "unknown base ref 'HEAD~5'"),
    ],
)
def test_unknown_ref_falls_back_to_everything(
    repo: Path, base: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "images" / "solo" / "x").write_text("x")
    _commit(repo, "second")
    result = _detect(repo, base)
    assert result.fallback == why
    assert result.affected == ("base", "solo", "middle", "leaf")
    assert "building everything" in caplog.text


def test_first_commit_falls_back_to_everything(repo: Path) -> None:
    result = _detect(repo, "HEAD~1")
    assert result.fallback is not None
    assert "first commit" in result.fallback
    assert len(result.affected) == 4


def test_shallow_clone_without_base(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    for index in range(3):
        (repo / "images" / "solo" / f"f{index}").write_text(str(index))
        _commit(repo, f"commit {index}")
    clone = tmp_path_factory.mktemp("shallow") / "clone"
    git(repo.parent, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    result = _detect(clone, "HEAD~2")
    assert result.fallback is not None
    assert "shallow clone" in result.fallback
