from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from imagefleet import scan
from imagefleet.errors import ExitCode, UsageError, last_line
from imagefleet.scan import SEVERITIES, ScanFinding, ScanReport, parse_report, parse_severity
from tests.helpers import FIXTURES

SAMPLES = FIXTURES / "scan"
# Recorded from trivy 0.76 (see the commands in imagefleet.scan): a secret scan of fx-leaky with
# `ENV AWS_ACCESS_KEY_ID=…` added, and the config scan of that Dockerfile.
SECRET_SAMPLE = SAMPLES / "trivy-secret.json"
CONFIG_SAMPLE = SAMPLES / "trivy-config.json"

# Hand-written after trivy's documented vulnerability schema: there is no DB offline to record
# a real one with. Only the fields parse_report reads, plus a few neighbours.
VULN_REPORT: dict[str, Any] = {
    "SchemaVersion": 2,
    "ArtifactName": "example:1",
    "ArtifactType": "container_image",
    "Results": [
        {
            "Target": "example:1 (alpine 3.19.1)",
            "Class": "os-pkgs",
            "Type": "alpine",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2024-0001",
                    "PkgName": "libcrypto3",
                    "InstalledVersion": "3.1.4-r5",
                    "FixedVersion": "3.1.4-r6",
                    "Status": "fixed",
                    "Severity": "MEDIUM",
                    "Title": "openssl: something bad",
                },
                {
                    "VulnerabilityID": "CVE-2024-0002",
                    "PkgName": "busybox",
                    "InstalledVersion": "1.36.1-r15",
                    "Severity": "SOMETHING-NEW",
                },
            ],
        },
        {"Target": "usr/lib/app.jar", "Class": "lang-pkgs", "Type": "jar"},
    ],
}

# What trivy 0.76 prints when it cannot fetch its DB (stderr of `trivy image --download-db-only`).
DB_FAILURE = """\
2026-11-30T01:56:09Z\tINFO\t[vulndb] Need to update DB
2026-11-30T01:56:09Z\tFATAL\tFatal error\trun error: init error: DB error: failed to download \
vulnerability DB: OCI artifact error: failed to download artifact from 127.0.0.1:1/x: \
OCI repository error: 1 error occurred:
\t* Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused


"""


def _finding(severity: str, ident: str = "X") -> ScanFinding:
    return ScanFinding("secret", ident, severity, "t", "/f")


@pytest.mark.parametrize("text", ["high", "HIGH", " High ", "critical", "unknown"])
def test_parse_severity_any_case(text: str) -> None:
    assert parse_severity(text) == text.strip().upper()


@pytest.mark.parametrize("text", ["", "severe", "HIGHEST", "4"])
def test_parse_severity_rejects_with_the_list(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_severity(text)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL" in caught.value.hint


def test_at_or_above_follows_severity_order_not_spelling() -> None:
    findings = tuple(_finding(s, s.lower()) for s in reversed(SEVERITIES))
    report = ScanReport("x", "x:1", findings, None, None)
    assert [f.severity for f in report.at_or_above("medium")] == ["CRITICAL", "HIGH", "MEDIUM"]
    assert report.at_or_above("CRITICAL") == (findings[0],)
    assert report.at_or_above("unknown") == findings
    with pytest.raises(UsageError):
        report.at_or_above("urgent")


def test_report_as_dict_counts_every_severity() -> None:
    report = ScanReport("x", "x:1", (_finding("HIGH"), _finding("HIGH", "Y")), "/s.json", "no DB")
    data = report.as_dict()
    assert data["counts"] == {"UNKNOWN": 0, "LOW": 0, "MEDIUM": 0, "HIGH": 2, "CRITICAL": 0}
    assert data["findings"][0] == {
        "kind": "secret",
        "id": "X",
        "severity": "HIGH",
        "title": "t",
        "target": "/f",
        "line": None,
    }
    assert data["sbom"] == "/s.json"
    assert data["vulnerabilities_skipped"] == "no DB"
    json.dumps(data)


def test_parse_recorded_secret_report() -> None:
    findings = parse_report(json.loads(SECRET_SAMPLE.read_text()))
    assert findings == [
        ScanFinding(
            "secret",
            "aws-access-key-id",
            "CRITICAL",
            "AWS Access Key ID",
            "/etc/fleet/credentials",
            4,
        ),
        # ENV and its history line name the same key: one finding, without config JSON lines.
        ScanFinding("secret", "aws-access-key-id", "CRITICAL", "AWS Access Key ID", "image config"),
    ]


def test_parse_recorded_config_report() -> None:
    findings = parse_report(json.loads(CONFIG_SAMPLE.read_text()))
    assert [(f.kind, f.id, f.severity, f.target, f.line) for f in findings] == [
        ("config", "DS-0002", "HIGH", "Dockerfile", None),
        ("config", "DS-0026", "LOW", "Dockerfile", None),
        ("config", "DS-0031", "CRITICAL", "Dockerfile", 6),
    ]
    assert findings[0].title == "Image user should not be 'root'"


def test_parse_vulnerabilities_and_odd_severities() -> None:
    assert parse_report(VULN_REPORT) == [
        ScanFinding(
            "vuln", "CVE-2024-0001", "MEDIUM", "openssl: something bad", "libcrypto3@3.1.4-r5"
        ),
        ScanFinding("vuln", "CVE-2024-0002", "UNKNOWN", "CVE-2024-0002", "busybox@1.36.1-r15"),
    ]


def test_parse_report_without_results() -> None:
    assert parse_report({"SchemaVersion": 2, "ArtifactName": "x:1"}) == []
    assert parse_report({"Results": None}) == []


def test_last_line_is_the_reason_without_log_noise() -> None:
    assert last_line(DB_FAILURE) == (
        'Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'
    )
    fatal = "2026-11-30T01:58:39Z\tFATAL\tFatal error\tflag error: bad --severity\n"
    assert last_line(fatal) == "flag error: bad --severity"
    syft = "[0000] ERROR \x1b[31mcould not determine source: no such image\x1b[0m\n"
    assert last_line(syft) == "could not determine source: no such image"
    assert last_line("") == "no output"


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("Dockerfile", "Dockerfile"), ("build.docker", r"build\.docker"), ("a+b(1)", r"a\+b\(1\)")],
)
def test_go_literal(name: str, pattern: str) -> None:
    assert scan.go_literal(name) == pattern


def test_cache_dir_is_never_the_working_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIVY_CACHE_DIR", "/somewhere/trivy")
    assert scan.cache_dir() == Path("/somewhere/trivy")
    monkeypatch.delenv("TRIVY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert scan.cache_dir() == Path("/xdg/imagefleet/trivy")


# -- the DB decision, with the seam replaced ----------------------------------------------------


def _fake_run(code: int, stderr: str = "") -> Any:
    def run(
        argv: list[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, code, "", stderr)

    return run


def test_unreachable_db_without_a_copy_skips_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(scan, "run_scanner", _fake_run(1, DB_FAILURE))
    reason = scan.vulnerability_db("trivy", tmp_path)
    assert reason is not None
    assert "\n" not in reason
    assert reason.startswith("vulnerability scan skipped: ")
    assert reason.endswith("connect: connection refused)")


def test_unreachable_db_with_a_stale_copy_still_scans(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"")
    monkeypatch.setattr(scan, "run_scanner", _fake_run(1, DB_FAILURE))
    assert scan.vulnerability_db("trivy", tmp_path) is None
    assert "scanning with the cached copy" in caplog.text


def test_reachable_db_scans(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(scan, "run_scanner", _fake_run(0))
    assert scan.vulnerability_db("trivy", tmp_path) is None


# -- the seam itself ---------------------------------------------------------------------------


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # Like the PyPI shims: a parent that waits on the real scanner in a child process.
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys; "
        "child = subprocess.Popen(['sleep', '60']); "
        f"open({str(pidfile)!r}, 'w').write(str(child.pid)); "
        "sys.exit(child.wait())"
    )
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        scan.run_scanner([sys.executable, "-c", script], timeout=2)
    # Killing only the parent would leave us waiting for the child, which holds the pipes.
    assert time.monotonic() - started < 20
    child = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(child):
            return
        time.sleep(0.1)
    pytest.fail(f"the scanner's child process {child} outlived the timeout")


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a PID 1 that may never reap it (as in containers)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


class _Built:
    """An engine where every image is built."""

    def image_id(self, ref: str) -> str:
        return "sha256:" + "0" * 64


@pytest.mark.parametrize("flag", [None, "custom-sboms"])
def test_scan_writes_sboms_under_an_ignored_directory_by_default(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str | None,
) -> None:
    # A scan must not dirty the tree: a dirty tree tags the next build -dirty.
    from invoke.config import Config
    from invoke.context import Context

    from imagefleet import engine
    from imagefleet.tasks import checks
    from tests.helpers import git, make_project

    root = make_project(tmp_path / "project", with_busybox=False)
    written: list[Path] = []

    def fake_scan(eng: object, name: str, ref: str, *, sbom: Path, **_: object) -> ScanReport:
        sbom.write_text("{}")
        written.append(sbom)
        return ScanReport(name, ref, (), str(sbom), None)

    monkeypatch.setattr(engine.Engine, "connect", classmethod(lambda cls, builder: _Built()))
    monkeypatch.setattr(scan, "scan_image", fake_scan)
    monkeypatch.chdir(tmp_path)
    context = Context(Config(overrides={"fleet": {"root": str(root)}}))
    checks.scan(context, image=["fx-hello"], sbom_dir=flag, json=True)
    [report] = json.loads(capsys.readouterr().out)
    expected = (tmp_path / flag) if flag else (root / ".fleet" / "sbom")
    assert written == [expected / "fx-hello.cdx.json"]
    assert report["sbom"] == str(expected / "fx-hello.cdx.json")
    assert git(root, "status", "--porcelain") == ""


def test_the_repository_ignores_the_default_sbom_directory() -> None:
    from imagefleet.scan import SBOM_DIR
    from tests.helpers import REPO

    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(SBOM_DIR / "x.cdx.json")], cwd=REPO, check=False
    )
    assert ignored.returncode == 0
