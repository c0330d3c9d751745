"""SARIF logs of image scans for code scanning (``invoke scan --format sarif``): trivy's own SARIF,
made from the JSON reports the scan kept, one run per image and per thing scanned.

Code scanning refuses an upload with two runs of one tool in one category, so each run gets its
own category (``automationDetails.id``: ``imagefleet-scan/<image>/image/`` and
``…/dockerfile/``): one upload holds the whole fleet, and each image's alerts close on their own.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import tools
from .errors import TrivyFailedError, TrivyReportError, TrivyTimeoutError, last_line
from .scan import TRIVY, ScanReport, run_scanner

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
CATEGORY = "imagefleet-scan"
_CONVERT_TIMEOUT = 60.0


def category(image: str, scanned: str) -> str:
    """The code-scanning category of one image's run (``scanned``: ``image``, ``dockerfile``)."""
    return f"{CATEGORY}/{image}/{scanned}/"


def convert(report: Mapping[str, Any], *, what: str) -> dict[str, Any]:
    """trivy's SARIF for one of its JSON reports (``trivy convert``: no scan, no network)."""
    binary = tools.require(*TRIVY)
    with tempfile.TemporaryDirectory(prefix="imagefleet-sarif-") as tmp:
        source, output = Path(tmp) / "report.json", Path(tmp) / "report.sarif"
        source.write_text(json.dumps(report), encoding="utf-8")
        # No trivy.yaml, no .trivyignore from the working directory: what the scan said, all of it.
        argv = [binary, "convert", "--config=", "--ignorefile=", "--format", "sarif"]
        argv += ["--output", str(output), str(source)]
        try:
            done = run_scanner(argv, timeout=_CONVERT_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise TrivyTimeoutError(what=what, timeout=_CONVERT_TIMEOUT) from exc
        if done.returncode != 0 or not output.is_file():
            raise TrivyFailedError(what=what, reason=last_line(done.stderr))
        try:
            log: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TrivyReportError(what=what, reason=exc, binary=binary) from exc
    return log


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _place(run: dict[str, Any], uri: str | None) -> None:
    """Drop trivy's ``ROOTPATH`` (it names the converted temporary file); a Dockerfile's results
    point at the file in the repository, where code scanning shows them."""
    run.pop("originalUriBaseIds", None)
    for result in run.get("results") or ():
        for location in result.get("locations") or ():
            artifact = (location.get("physicalLocation") or {}).get("artifactLocation")
            if isinstance(artifact, dict):
                artifact.pop("uriBaseId", None)
                if uri is not None:
                    artifact["uri"] = uri


def runs(report: ScanReport, *, root: Path) -> list[dict[str, Any]]:
    """The SARIF runs of one image's scan, each in its own category; Dockerfile locations are
    relative to ``root`` (the repository)."""
    found: list[dict[str, Any]] = []
    for scanned, trivy_report in report.trivy.items():
        log = convert(trivy_report, what=f"SARIF of the {scanned} scan of {report.image}")
        dockerfile = report.dockerfile if scanned == "dockerfile" else None
        for run in log.get("runs") or ():
            _place(run, _relative(dockerfile, root) if dockerfile else None)
            run["automationDetails"] = {"id": category(report.image, scanned)}
            properties = run.setdefault("properties", {})
            properties.update({"image": report.image, "reference": report.reference})
            found.append(run)
    return found


def log(reports: Iterable[ScanReport], *, root: Path) -> dict[str, Any]:
    """One SARIF log of every image's runs (what ``upload-sarif`` takes in one step)."""
    return {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [run for report in reports for run in runs(report, root=root)],
    }
