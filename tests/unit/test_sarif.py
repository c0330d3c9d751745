"""SARIF for code scanning from trivy's reports (imagefleet.sarif), with the real ``trivy
convert`` over the recorded reports: no scan, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagefleet import sarif, scan, tools
from imagefleet.errors import EnvironmentProblem
from imagefleet.scan import ScanReport
from tests.helpers import FIXTURES, require

SAMPLES = FIXTURES / "scan"


@pytest.fixture(autouse=True)
def _trivy() -> None:
    try:
        tools.require(*scan.TRIVY)
    except EnvironmentProblem as exc:
        require(exc.message, exc.hint)


def _report(image: str, root: Path) -> ScanReport:
    dockerfile = root / "images" / image / "Dockerfile"
    return ScanReport(
        image,
        f"localhost:5000/fleet/{image}@sha256:" + "a" * 64,
        (),
        None,
        None,
        dockerfile=str(dockerfile),
        trivy={
            "image": json.loads((SAMPLES / "trivy-secret.json").read_text()),
            "dockerfile": json.loads((SAMPLES / "trivy-config.json").read_text()),
        },
    )


def _key(run: dict[str, Any]) -> str:
    # What code scanning (and codeql-action's upload) tells runs apart by: the tool and category.
    driver = run["tool"]["driver"]
    return json.dumps([driver.get("name"), driver.get("version"), run["automationDetails"]["id"]])


def test_one_log_one_run_per_image_and_scan_each_in_its_own_category(tmp_path: Path) -> None:
    log = sarif.log([_report("fx-a", tmp_path), _report("fx-b", tmp_path)], root=tmp_path)
    assert log["version"] == "2.1.0"
    categories = [run["automationDetails"]["id"] for run in log["runs"]]
    assert categories == [
        "imagefleet-scan/fx-a/image/",
        "imagefleet-scan/fx-a/dockerfile/",
        "imagefleet-scan/fx-b/image/",
        "imagefleet-scan/fx-b/dockerfile/",
    ]
    assert len({_key(run) for run in log["runs"]}) == len(log["runs"])
    assert {run["tool"]["driver"]["name"] for run in log["runs"]} == {"Trivy"}
    assert log["runs"][0]["properties"]["image"] == "fx-a"
    json.dumps(log)


def test_results_are_trivys_and_point_where_a_reader_can_go(tmp_path: Path) -> None:
    image, dockerfile = sarif.runs(_report("fx-a", tmp_path), root=tmp_path)
    secret = image["results"][0]
    assert secret["ruleId"] == "aws-access-key-id"
    artifact = secret["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "/etc/fleet/credentials"}  # a path in the image
    assert {r["ruleId"] for r in dockerfile["results"]} >= {"DS-0002"}
    for result in dockerfile["results"]:
        for location in result["locations"]:
            # The repository's file, relative to its root: code scanning shows it there.
            uri = location["physicalLocation"]["artifactLocation"]
            assert uri == {"uri": "images/fx-a/Dockerfile"}
    # trivy's ROOTPATH named the temporary file it converted: gone.
    assert "originalUriBaseIds" not in image
    assert "originalUriBaseIds" not in dockerfile


def test_an_image_without_a_dockerfile_scan_has_one_run(tmp_path: Path) -> None:
    report = _report("fx-a", tmp_path)
    only = ScanReport(
        report.image, report.reference, (), None, None, trivy={"image": report.trivy["image"]}
    )
    assert [r["automationDetails"]["id"] for r in sarif.runs(only, root=tmp_path)] == [
        "imagefleet-scan/fx-a/image/"
    ]
