from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from invoke.exceptions import Exit

from imagefleet import scan, tools
from imagefleet.errors import ExitCode, UsageError, last_line
from imagefleet.scan import SEVERITIES, ScanFinding, ScanReport, parse_report, parse_severity
from tests import seeding
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


# -- scanning a staged digest in its registry, with the seam replaced ----------------------------

STAGED = "localhost:5000/fleet/fx-hello@sha256:" + "a" * 64


def _recording_run(calls: list[tuple[list[str], dict[str, str]]]) -> Any:
    """A seam that records each command and writes what trivy and syft would have written."""

    def run(
        argv: list[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        calls.append((argv, dict(env or {})))
        for flag, value in itertools.pairwise(argv):
            if flag == "--output" and "=" in value:  # syft: FORMAT=PATH
                Path(value.split("=", 1)[1]).write_text("{}")
            elif flag == "--output":  # trivy: a JSON report
                Path(value).write_text(SECRET_SAMPLE.read_text())
        return subprocess.CompletedProcess(argv, 0, "", "")

    return run


def test_a_staged_digest_is_read_from_the_registry_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imagefleet.credentials import Credentials

    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(scan, "run_scanner", _recording_run(calls))
    monkeypatch.setattr(tools, "require", lambda *names: names[0])
    report = scan.scan_reference(
        "fx-hello",
        STAGED,
        credentials=Credentials("robot", "s3cret"),
        sbom=tmp_path / "fx-hello.cdx.json",
        spdx=tmp_path / "fx-hello.spdx.json",
        vulnerabilities=False,
    )
    (trivy, trivy_env), (syft, syft_env) = calls
    assert trivy[trivy.index("--image-src") + 1] == "remote"  # never a local image of that name
    assert trivy[-1] == STAGED
    assert syft[:3] == ["syft", "scan", f"registry:{STAGED}"]
    assert f"cyclonedx-json={tmp_path / 'fx-hello.cdx.json'}" in syft
    assert f"spdx-json={tmp_path / 'fx-hello.spdx.json'}" in syft
    # Credentials go through the environment, never the command line (which is logged).
    assert not any("s3cret" in arg for arg in trivy + syft)
    assert (trivy_env["TRIVY_USERNAME"], trivy_env["TRIVY_PASSWORD"]) == ("robot", "s3cret")
    assert syft_env["SYFT_REGISTRY_AUTH_AUTHORITY"] == "localhost:5000"
    assert syft_env["SYFT_REGISTRY_AUTH_PASSWORD"] == "s3cret"
    assert report.reference == STAGED
    assert report.spdx == str(tmp_path / "fx-hello.spdx.json")
    assert report.as_dict()["spdx"] == report.spdx
    assert set(report.trivy) == {"image"}  # kept for SARIF
    assert report.findings[0].id == "aws-access-key-id"


def test_without_fleet_credentials_the_tools_read_dockers_config() -> None:
    from imagefleet.credentials import Credentials

    assert scan.registry_env("localhost:5000", None) == {}
    # An identity token is not a username and password: Docker's config has it, the tools read it.
    assert scan.registry_env("localhost:5000", Credentials("<token>", "t")) == {}


def test_a_local_scan_never_reads_a_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(scan, "run_scanner", _recording_run(calls))
    monkeypatch.setattr(tools, "require", lambda *names: names[0])
    scan.scan_image(
        _Built(),  # type: ignore[arg-type]
        "fx-hello",
        "fx-hello:abc",
        sbom=tmp_path / "x.cdx.json",
        vulnerabilities=False,
    )
    (trivy, trivy_env), (syft, _) = calls
    assert trivy[trivy.index("--image-src") + 1] == "docker"
    assert syft[2] == "docker:fx-hello:abc"
    assert trivy_env == {}


# -- `invoke scan --digests`: the staged images in a real registry (on loopback, no Docker) ------


@pytest.fixture
def staged(tmp_path: Path) -> Iterator[tuple[Path, str, Path, str]]:
    """A project, a real registry holding fx-hello by digest only, and the digests directory a
    build job would have recorded: (project, registry target, digests dir, digest)."""
    from imagefleet import localregistry, staging
    from tests.helpers import make_project, require

    if localregistry.find_binary() is None:
        require("no registry binary", "apt-get install docker-registry")
    root = make_project(tmp_path / "project", with_busybox=False)
    with localregistry.running(tmp_path / "registry") as running:
        digest = seeding.image(running.url, "fleet/fx-hello")
        digests = tmp_path / "digests"
        staging.record(digests, "fx-hello", digest)
        yield root, f"{running.address}/fleet", digests, digest


def _context(root: Path) -> Any:
    from invoke.config import Config
    from invoke.context import Context

    return Context(Config(overrides={"fleet": {"root": str(root)}}))


def test_scan_digests_scans_each_staged_image_in_the_registry_and_writes_sarif(
    staged: tuple[Path, str, Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagefleet import engine
    from imagefleet.tasks import checks

    root, registry, digests, digest = staged
    asked: list[tuple[str, str, dict[str, Any]]] = []

    def fake_scan(name: str, reference: str, **options: Any) -> ScanReport:
        asked.append((name, reference, options))
        return ScanReport(
            name,
            reference,
            tuple(parse_report(json.loads(SECRET_SAMPLE.read_text()))),
            str(options["sbom"]),
            None,
            spdx=str(options["spdx"]),
            trivy={"image": json.loads(SECRET_SAMPLE.read_text())},
        )

    def no_engine(cls: object, builder: object) -> None:
        raise AssertionError("a scan of staged digests needs no Docker engine")

    monkeypatch.setattr(scan, "scan_reference", fake_scan)
    monkeypatch.setattr(engine.Engine, "connect", classmethod(no_engine))
    monkeypatch.delenv("FLEET_REGISTRY_USERNAME", raising=False)
    output = tmp_path / "scan.sarif"
    with pytest.raises(Exit) as caught:
        checks.scan(
            _context(root),
            digests=str(digests),
            registry=registry,
            sbom_dir=str(tmp_path / "sbom"),
            fail_on="critical",
            format="sarif",
            output=str(output),
        )
    assert caught.value.code == ExitCode.SCAN  # the planted key, after the SARIF was written
    [(name, reference, options)] = asked
    assert (name, reference) == ("fx-hello", f"{registry}/fx-hello@{digest}")
    assert options["spdx"] == tmp_path / "sbom" / "fx-hello.spdx.json"
    log = json.loads(output.read_text())
    [run] = log["runs"]
    assert run["automationDetails"]["id"] == "imagefleet-scan/fx-hello/image/"
    assert run["results"][0]["ruleId"] == "aws-access-key-id"
    assert "report written to" in capsys.readouterr().err


def test_scan_digests_refuses_what_the_registry_does_not_hold_before_scanning(
    staged: tuple[Path, str, Path, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imagefleet import staging
    from imagefleet.tasks import checks

    root, registry, _, _ = staged
    monkeypatch.setattr(scan, "scan_reference", lambda *a, **k: pytest.fail("scanned"))
    elsewhere = tmp_path / "elsewhere"
    staging.record(elsewhere, "fx-hello", "sha256:" + "b" * 64)
    with pytest.raises(Exit) as caught:
        checks.scan(_context(root), digests=str(elsewhere), registry=registry)
    assert caught.value.code == ExitCode.REGISTRY
    with pytest.raises(Exit) as caught:
        checks.scan(_context(root), digests=str(elsewhere), image=["fx-hello"])
    assert caught.value.code == ExitCode.USAGE  # --digests is the selection
    with pytest.raises(Exit) as caught:
        checks.scan(_context(root), registry=registry, image=["fx-hello"])
    assert caught.value.code == ExitCode.USAGE  # a registry without digests scans nothing
