"""`invoke test`: structure tests and pytest files, parents' tests on children, no leftovers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagefleet.engine import Engine
from imagefleet.testing import SESSION_LABEL
from tests.helpers import git, invoke

pytestmark = pytest.mark.integration


def _leftovers(engine: Engine) -> list[str | None]:
    return [
        c.name for c in engine.client.containers.list(all=True, filters={"label": SESSION_LABEL})
    ]


def test_structure_and_pytest_suites_pass_with_junit(
    project: Path, engine: Engine, tmp_path: Path
) -> None:
    assert invoke(project, "build", "--image", "fx-hello").code == 0
    junit = tmp_path / "junit"
    result = invoke(project, "test", "--image", "fx-hello", "--junit", str(junit), "--json")
    assert result.code == 0, result.output
    suites = {(r["source"], r["kind"]): r for r in json.loads(result.stdout)}
    assert suites[("fx-hello", "structure")]["passed"] == 4
    assert suites[("fx-hello", "pytest")]["passed"] == 3
    assert all(not r["failed"] for r in suites.values())
    assert sorted(p.name for p in junit.iterdir()) == [
        "fx-hello--fx-hello-pytest.xml",
        "fx-hello--fx-hello-structure.xml",
    ]
    assert _leftovers(engine) == []


def test_failures_are_named_and_exit_7(broken_project: Path, engine: Engine) -> None:
    assert invoke(broken_project, "build", "--image", "fx-wrongtests").code == 0
    result = invoke(broken_project, "test", "--image", "fx-wrongtests")
    assert result.code == 7, result.output
    assert "Traceback" not in result.output
    assert "Command Test: a tool that is not there" in result.stderr
    assert "Metadata Test" in result.stderr
    assert "test_expects_a_missing_file" in result.stderr
    assert "test_shell_exists" not in result.stderr.split("error:")[1]
    assert "error: 3 check(s) failed in fx-wrongtests" in result.stderr
    assert _leftovers(engine) == []


def test_untested_and_unbuilt_images(project: Path) -> None:
    result = invoke(project, "test", "--image", "fx-plain")
    assert result.code == 2
    assert "has not been built for this commit" in result.stderr
    assert invoke(project, "build", "--image", "fx-plain").code == 0
    quiet = invoke(project, "test", "--image", "fx-plain")
    assert quiet.code == 0, quiet.output
    assert "no tests for fx-plain" in quiet.stderr


def test_parents_tests_run_against_children(
    family: tuple[Path, dict[str, str]], engine: Engine
) -> None:
    project, env = family
    assert invoke(project, "build", "--all", "--jobs", "2", env=env).code == 0
    result = invoke(project, "test", "--image", "fx-leaf-a", "--json", env=env)
    assert result.code == 0, result.output
    ran = [(r["source"], r["kind"]) for r in json.loads(result.stdout)]
    assert ran == [("fx-base", "structure"), ("fx-middle", "pytest")]
    assert "(from fx-base)" in result.stderr
    assert _leftovers(engine) == []


def test_real_structure_configs_parse_and_can_fail(
    project: Path, engine: Engine, tmp_path: Path
) -> None:
    """The seven real configs pass container-structure-test's own strict parser, and run against
    an image without their tools, every tool check fails: they would catch a missing tool."""
    from imagefleet import testing
    from tests.helpers import REPO

    assert invoke(project, "build", "--image", "fx-plain").code == 0
    probe = f"fx-plain:{git(project, 'rev-parse', 'HEAD')}"
    configs = sorted((REPO / "images").glob("*/tests/structure.yaml"))
    assert len(configs) == 7
    for config in configs:
        assert testing.config_errors(config, probe) == [], config
        suite = testing.Suite(config.parent.parent.name, "structure", (config,))
        _, failures = testing.run_structure(probe, suite, tmp_path / f"{suite.source}.xml")
        tool_checks = [f for f in failures if f.startswith("Command Test")]
        assert tool_checks, f"{config}: no command check failed on an image without the tools"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: x\n    command: sh\n    bogusField: 1\n"
    )
    [error] = testing.config_errors(bad, probe)
    assert "field bogusField not found" in error
    assert _leftovers(engine) == []
