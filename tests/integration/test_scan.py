"""Real trivy and syft against images built by the real CLI; no network needed or used."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from imagefleet import scan, staging, tools
from imagefleet.engine import Engine
from imagefleet.errors import EnvironmentProblem, ExitCode, NotBuiltError, ScanError
from imagefleet.localregistry import LocalRegistry
from imagefleet.scan import ScanFinding, scan_dockerfile, scan_image
from tests import seeding
from tests.helpers import FIXTURES, invoke, make_project, require

pytestmark = pytest.mark.integration

# Nothing listens on port 1 of loopback: trivy's DB is unreachable here, on any machine.
UNREACHABLE_DB = "127.0.0.1:1/fleet/trivy-db:2"
PLANTED = ScanFinding(
    "secret", "aws-access-key-id", "CRITICAL", "AWS Access Key ID", "/etc/fleet/credentials", 4
)


@pytest.fixture(autouse=True)
def _scanners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both tools installed; trivy's cache (and any DB in it) private to the test."""
    try:
        tools.require(*scan.TRIVY)
        tools.require(*scan.SYFT)
    except EnvironmentProblem as exc:
        require(exc.message, exc.hint)  # skipped here, a failure in CI
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(tmp_path / "trivy-cache"))
    monkeypatch.setenv("TRIVY_DB_REPOSITORY", UNREACHABLE_DB)


def _build(project: Path, image: str) -> str:
    result = invoke(project, "build", "--image", image, "--json")
    assert result.code == 0, result.output
    [built] = json.loads(result.stdout)
    return str(built["reference"])


def test_planted_secret_and_missing_user_are_reported(broken_project: Path, engine: Engine) -> None:
    reference = _build(broken_project, "fx-leaky")
    dockerfile = broken_project / "images" / "fx-leaky" / "Dockerfile"
    report = scan_image(engine, "fx-leaky", reference, vulnerabilities=False, dockerfile=dockerfile)
    assert report.image == "fx-leaky"
    assert report.reference == reference
    assert report.vulnerabilities_skipped is None  # not asked for
    assert report.sbom is None
    assert report.findings[0] == PLANTED  # most severe first
    assert ("config", "DS-0002", "HIGH", str(dockerfile)) in {
        (f.kind, f.id, f.severity, f.target) for f in report.findings
    }
    assert report.at_or_above("critical") == (PLANTED,)
    assert {f.kind for f in report.at_or_above("high")} == {"secret", "config"}


def test_unreachable_vulnerability_db_is_one_line_and_the_rest_still_runs(
    broken_project: Path, engine: Engine
) -> None:
    reference = _build(broken_project, "fx-leaky")
    report = scan_image(engine, "fx-leaky", reference)  # vulnerabilities=True
    skipped = report.vulnerabilities_skipped
    assert skipped is not None
    assert skipped.startswith("vulnerability scan skipped: trivy's vulnerability DB could not")
    assert "connection refused" in skipped
    assert "\n" not in skipped
    assert PLANTED in report.findings
    assert all(f.kind == "secret" for f in report.findings)


def test_sbom_of_fx_hello_lists_busybox(
    project: Path, engine: Engine, busybox_path: Path, tmp_path: Path
) -> None:
    reference = _build(project, "fx-hello")
    sbom = tmp_path / "sbom" / "fx-hello.cdx.json"
    report = scan_image(engine, "fx-hello", reference, sbom=sbom, vulnerabilities=False)
    assert report.findings == ()  # a clean image: no secrets
    assert report.sbom == str(sbom)

    bom = json.loads(sbom.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    name, _, version = reference.partition(":")
    assert bom["metadata"]["component"]["name"] == name
    assert bom["metadata"]["component"]["version"] == version
    # syft names busybox from the static binary itself (its binary classifier), with the version
    # the binary prints, and also takes it as the image's "operating system".
    banner = subprocess.run([str(busybox_path)], capture_output=True, text=True, check=False).stdout
    match = re.search(r"BusyBox v(\d[\w.]*)", banner)
    assert match, banner
    busybox = {
        (c["type"], c["version"]) for c in bom.get("components", ()) if c["name"] == "busybox"
    }
    assert ("application", match[1]) in busybox
    assert ("operating-system", match[1]) in busybox


def test_dockerfile_checks(tmp_path: Path) -> None:
    leaky = FIXTURES / "broken" / "fx-leaky" / "Dockerfile"
    assert "DS-0002" in {f.id for f in scan_dockerfile(leaky)}
    hello = FIXTURES / "images" / "fx-hello" / "Dockerfile"
    assert "DS-0002" not in {f.id for f in scan_dockerfile(hello)}  # it says USER 1000

    # Any file name, and findings tied to one instruction carry its line.
    odd = tmp_path / "build.docker"
    odd.write_text("FROM scratch\nADD busybox /bin/busybox\nUSER root\n")
    found = {(f.id, f.line, f.target) for f in scan_dockerfile(odd)}
    assert ("DS-0005", 2, str(odd)) in found  # ADD instead of COPY
    assert ("DS-0002", 3, str(odd)) in found  # USER root


def test_image_that_is_not_built_is_a_usage_error(engine: Engine) -> None:
    with pytest.raises(NotBuiltError) as caught:
        scan_image(engine, "fx-hello", "fx-hello:never-built-0000", vulnerabilities=False)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "invoke build --image fx-hello" in caught.value.hint


def test_scanner_failure_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    monkeypatch.setenv("TRIVY_SEVERITY", "NOPE")  # trivy reads its flags from TRIVY_* too
    with pytest.raises(ScanError) as caught:
        scan_dockerfile(dockerfile)
    error = caught.value
    assert error.exit_code == ExitCode.ENVIRONMENT
    assert error.message.startswith(f"trivy config scan of {dockerfile} failed: flag error:")
    assert "\n" not in error.message
    assert "FLEET_DEBUG=1" in error.hint


def test_invoke_scan_fails_on_the_planted_secret(broken_project: Path, tmp_path: Path) -> None:
    _build(broken_project, "fx-leaky")
    sboms = tmp_path / "sboms"
    result = invoke(
        broken_project,
        "scan",
        "--image",
        "fx-leaky",
        "--sbom-dir",
        str(sboms),
        "--fail-on",
        "high",
        "--json",
        env={
            "TRIVY_DB_REPOSITORY": UNREACHABLE_DB,
            "TRIVY_CACHE_DIR": str(tmp_path / "trivy-cache"),
        },
    )
    assert result.code == 10, result.output
    assert "Traceback" not in result.output
    failure = json.loads(result.stdout)
    assert failure["error"]["code"] == 10
    [report] = failure["images"]
    assert any(f["id"] == "aws-access-key-id" for f in report["findings"])
    assert "vulnerability scan skipped" in result.stderr
    assert "error: " in result.stderr
    assert "fx-leaky aws-access-key-id" in result.stderr
    assert (sboms / "fx-leaky.cdx.json").is_file()
    relaxed = invoke(
        broken_project,
        "scan",
        "--image",
        "fx-leaky",
        "--sbom-dir",
        str(sboms),
        env={
            "TRIVY_DB_REPOSITORY": UNREACHABLE_DB,
            "TRIVY_CACHE_DIR": str(tmp_path / "trivy-cache"),
        },
    )
    assert relaxed.code == 0, relaxed.output
    assert invoke(broken_project, "scan", "--image", "fx-leaky", "--fail-on", "severe").code == 2


# -- a staged digest, scanned where it is: a real registry, nothing in the Docker engine ----------


def _stage(registry: LocalRegistry, repository: str, files: dict[str, tuple[bytes, int]]) -> str:
    """Push a one-layer image holding ``files`` ({path: (content, mode)}) by digest only, over
    the registry's API (no engine: nothing of it is left in Docker); return the digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, (content, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue())
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "1000"},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()],
        },
    }
    return seeding.image(registry.url, repository, config, layers=[layer])


@pytest.fixture
def staged_leaky(registry: LocalRegistry, busybox_path: Path) -> tuple[str, str]:
    """fx-flow-scan in the registry by digest: busybox and the planted credential. Returns
    (registry target, digest)."""
    credentials = (FIXTURES / "broken" / "fx-leaky" / "credentials").read_bytes()
    digest = _stage(
        registry,
        "fleet/fx-flow-scan",
        {
            "bin/busybox": (busybox_path.read_bytes(), 0o755),
            "etc/fleet/credentials": (credentials, 0o644),
        },
    )
    return f"{registry.address}/fleet", digest


def test_a_staged_digest_is_scanned_in_the_registry(
    staged_leaky: tuple[str, str], tmp_path: Path
) -> None:
    target, digest = staged_leaky
    reference = f"{target}/fx-flow-scan@{digest}"
    report = scan.scan_reference(
        "fx-flow-scan",
        reference,
        sbom=tmp_path / "fx-flow-scan.cdx.json",
        spdx=tmp_path / "fx-flow-scan.spdx.json",
        vulnerabilities=False,
    )
    assert report.findings[0] == PLANTED
    spdx = json.loads((tmp_path / "fx-flow-scan.spdx.json").read_text())
    assert spdx["spdxVersion"] == "SPDX-2.3"
    assert "busybox" in {p["name"] for p in spdx["packages"]}
    assert json.loads((tmp_path / "fx-flow-scan.cdx.json").read_text())["bomFormat"] == "CycloneDX"


def test_invoke_scan_digests_fails_at_the_severity_and_writes_sarif(
    staged_leaky: tuple[str, str], tmp_path: Path
) -> None:
    target, digest = staged_leaky
    project = make_project(tmp_path / "project", {"fx-flow-scan": FIXTURES / "broken" / "fx-leaky"})
    digests = tmp_path / "digests"
    staging.record(digests, "fx-flow-scan", digest)
    output = tmp_path / "scan.sarif"
    env = {
        "TRIVY_DB_REPOSITORY": UNREACHABLE_DB,
        "TRIVY_CACHE_DIR": str(tmp_path / "trivy-cache"),
    }
    args = ["--digests", str(digests), "--registry", target, "--sbom-dir", str(tmp_path / "sbom")]
    result = invoke(
        project, "scan", *args, "--format", "sarif", "--output", str(output),
        "--fail-on", "critical", env=env,
    )  # fmt: skip
    assert result.code == 10, result.output
    assert "fx-flow-scan aws-access-key-id" in result.stderr
    runs = {run["automationDetails"]["id"]: run for run in json.loads(output.read_text())["runs"]}
    assert set(runs) == {
        "imagefleet-scan/fx-flow-scan/image/",
        "imagefleet-scan/fx-flow-scan/dockerfile/",
    }
    image_rules = {r["ruleId"] for r in runs["imagefleet-scan/fx-flow-scan/image/"]["results"]}
    assert "aws-access-key-id" in image_rules
    [location] = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in runs["imagefleet-scan/fx-flow-scan/dockerfile/"]["results"]
        for loc in r["locations"]
    }
    assert location == "images/fx-flow-scan/Dockerfile"
    assert (tmp_path / "sbom" / "fx-flow-scan.spdx.json").is_file()
    # A digest the registry does not hold: refused before any scan, exit 5.
    staging.record(digests, "fx-flow-scan", "sha256:" + "0" * 64)
    missing = invoke(project, "scan", *args, env=env)
    assert missing.code == 5, missing.output
    assert f"{target}/fx-flow-scan@sha256:{'0' * 64} is not in the registry" in missing.stderr
