"""Checks that keep every image honest: lint (hadolint + policy) and scan (trivy + syft)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ..errors import (
    FleetError,
    HadolintFindingsError,
    InvalidFormatError,
    LintFindingsError,
    OutputWithoutFormatError,
    PolicyViolationsError,
    ScanFindings,
    SelectionConflictError,
    StagedDigestMissingError,
    WorkflowWavesError,
    require_built,
)
from ._common import listify, output_directory, output_file, partial, settings, speaks_errors
from .publish import tag_current_content
from .selection import HELP, plans_for, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from .. import lint as lint_mod
    from .. import scan as scan_mod
    from ..plan import ImagePlan
    from ..policy import Violation
    from ..settings import Settings

FORMATS = ("text", "json", "sarif")


def _check_report(format: str, output: str | None) -> None:
    """Refuse a report that cannot be written, before hadolint runs."""
    if format not in FORMATS:
        raise InvalidFormatError(format=format, choices=", ".join(FORMATS))
    if output:
        if format == "text":
            raise OutputWithoutFormatError()
        output_file("--output", output)


def _write(data: dict[str, Any], output: str | None) -> None:
    text = jsonlib.dumps(data, indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        console.info(f"report written to {escape(output)}")
    else:
        console.emit(text)


@task(
    iterable=["image"],
    help={
        "image": "image to lint (a directory name under images/); repeatable; default: all",
        "format": "text (default), json, or sarif (hadolint's run plus the policy's)",
        "output": "write the json/sarif report to this file instead of stdout",
    },
)
@speaks_errors
def lint(  # noqa: PLR0912 - one report of three checks, one error among four
    c: Context, image: list[str] | None = None, format: str = "text", output: str | None = None
) -> None:
    """Lint Dockerfiles with hadolint; check the fleet policy and the publish workflow's waves."""
    from .. import catalog as catalog_mod
    from .. import lint as lint_mod
    from .. import policy, workflows
    from ..graph import Graph

    s = settings(c)
    _check_report(format, output)
    directories = catalog_mod.image_directories(s.images_dir)
    everyone = [d.name for d in directories]
    names = listify(image)
    if names:
        known = {d.name for d in directories}
        for name in names:
            if name not in known:
                catalog_mod.discover(s.images_dir).get(name)  # raises with close names
        directories = [d for d in directories if d.name in names]
    dockerfiles = [(d.name, d / catalog_mod.DOCKERFILE) for d in directories]
    config = s.root / lint_mod.CONFIG
    # `FROM parent` (bare name or through the registry) is built in this run: no DL3006/DL3007.
    in_repo = lint_mod.in_repo_from_lines(dockerfiles, everyone, s.targets)
    linted = lint_mod.run(dockerfiles, s.root, config, in_repo)
    violations = policy.check(s.images_dir, s.targets, s.root, only=[d.name for d in directories])
    # A fleet-wide check: only when the whole fleet is linted (and every manifest loads).
    waves: list[str] = []
    if not names and not any(v.rule == "manifest" for v in violations):
        graph = Graph.build(catalog_mod.discover(s.images_dir), s.targets)
        waves = workflows.check_waves(s.root, graph)
    if format == "sarif":
        log = lint_mod.sarif(dockerfiles, s.root, config, in_repo)
        log.setdefault("runs", []).append(policy.sarif_run(violations))
        _write(log, output)
    elif format == "json":
        report = {
            "hadolint": [f.as_dict() for f in linted.findings],
            "hadolint_failed": linted.failed,
            "policy": [v.as_dict() for v in violations],
            "workflows": waves,
        }
        if output or not (linted.failed or violations or waves):
            _write(report, output)
        else:  # on stdout, a failing run prints one object: the report beside its error
            partial(**report)
    else:
        for finding in linted.findings:
            console.info(f"[yellow]hadolint[/] {escape(str(finding))}")
        for violation in violations:
            console.info(f"[red]policy[/] {escape(str(violation))}")
        for problem in waves:
            console.info(f"[red]workflow[/] {escape(problem)}")
    if linted.failed or violations:
        raise _lint_error(linted, violations, images=len(dockerfiles))
    if waves:
        raise WorkflowWavesError(
            count=len(waves), workflow=workflows.PUBLISH_WORKFLOW, problems="; ".join(waves)
        )
    console.info(
        f"[green]clean[/]: {len(dockerfiles)} Dockerfile(s), hadolint and "
        f"{len(policy.RULES)} policy rules"
    )


def _lint_error(linted: lint_mod.Result, violations: list[Violation], *, images: int) -> FleetError:
    """The run's error: hadolint's findings, the policy's violations, or both."""
    codes = ", ".join(sorted({f.code for f in linted.findings}))
    rules = ", ".join(sorted({v.rule for v in violations}))
    hadolint = bool(linted.findings or linted.failed)
    if hadolint and violations:
        return LintFindingsError(
            findings=len(linted.findings),
            codes=codes,
            violations=len(violations),
            rules=rules,
            images=images,
        )
    if violations:
        return PolicyViolationsError(violations=len(violations), rules=rules, images=images)
    return HadolintFindingsError(findings=len(linted.findings), codes=codes, images=images)


@task(
    iterable=["image"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base")},
        "digests": "scan the images `build --push --digests DIR` staged, in the registry, by "
        "digest (that directory or one JSON file); they are the selection",
        "registry": "HOST[:PORT]/NAMESPACE the --digests were pushed to (default: fleet.registry)",
        "sbom_dir": "write each image's CycloneDX and SPDX SBOMs (syft) here "
        "(default: .fleet/sbom/ in the repository, which git ignores)",
        "fail_on": "exit 10 when a finding is at or above this severity "
        "(UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL); default: report only",
        "vulnerabilities": "scan for vulnerabilities when trivy's DB is reachable (default on)",
        "format": "text (default), json (as --json), or sarif (trivy's SARIF: one log, one run "
        "per image and scan, each in its own code-scanning category)",
        "output": "write the json/sarif report to this file instead of stdout",
        "json": HELP["json"],
    },
)
@speaks_errors
def scan(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    digests: str | None = None,
    registry: str | None = None,
    sbom_dir: str | None = None,
    fail_on: str | None = None,
    vulnerabilities: bool = True,
    format: str = "text",
    output: str | None = None,
    json: bool = False,
) -> None:
    """Scan images with trivy (config, secrets, vulnerabilities) and write syft SBOMs.

    Built images in the local engine, or with --digests the images staged in the registry by
    digest (what the publish workflow scans before any tag moves). Vulnerabilities are scanned
    when trivy's database is reachable; offline that is one line of output and the other scans
    still run.
    """
    from .. import scan as scan_mod
    from ..credentials import credentials_for
    from ..engine import Engine
    from ..errors import MissingFlagError
    from ..reference import parse_target

    s = settings(c)
    format = "json" if json and format == "text" else format
    _check_report(format, output)
    threshold = scan_mod.parse_severity(fail_on) if fail_on else None
    if registry and not digests:
        raise MissingFlagError(
            task="scan", flags="--digests with --registry", usage="--digests digests/ --registry R"
        )
    out_dir = output_directory("--sbom-dir", sbom_dir) if sbom_dir else s.root / scan_mod.SBOM_DIR
    staged = _staged(s, digests, registry, listify(image), all, changed) if digests else None
    if staged is None:
        selection = select(s, listify(image), all, changed, base)
        chosen = plans_for(s, selection)
        engine = Engine.connect(s.builder)
        tag_current_content(s, selection, engine, chosen)
        for p in chosen:
            require_built(engine, p.local_ref, p.name)
        references = {p.name: p.local_ref for p in chosen}
    else:
        chosen, references = staged
        credentials = credentials_for(
            parse_target(registry).domain if registry else s.target.domain
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    reports: list[scan_mod.ScanReport] = []
    done: list[dict[str, Any]] = []
    partial(images=done)  # a failing run prints the reports so far beside its error
    for p in chosen:
        options: dict[str, Any] = {
            "sbom": out_dir / f"{p.name}.cdx.json",
            "spdx": out_dir / f"{p.name}.spdx.json",
            "vulnerabilities": vulnerabilities,
            "dockerfile": p.image.dockerfile_path,
        }
        with console.working(f"scan {p.name}"):
            if staged is None:
                report = scan_mod.scan_image(engine, p.name, references[p.name], **options)
            else:
                report = scan_mod.scan_reference(
                    p.name, references[p.name], credentials=credentials, **options
                )
        reports.append(report)
        done.append(report.as_dict())
        _print(report)
    if format == "sarif":
        from .. import sarif

        _write(sarif.log(reports, root=s.root), output)
    elif format == "json" and output:
        _write({"images": done}, output)
    if threshold is not None:
        over = [(r.image, f) for r in reports for f in r.at_or_above(threshold)]
        if over:
            raise ScanFindings(
                count=len(over),
                threshold=threshold,
                findings=", ".join(sorted({f"{name} {f.id}" for name, f in over}))[:300],
            )
    if format == "json" and not output:
        console.emit_json(done)


def _staged(
    s: Settings,
    digests: str,
    registry: str | None,
    image: list[str],
    all_: bool,
    changed: bool,
) -> tuple[list[ImagePlan], dict[str, str]]:
    """The images a digests file staged, each as ``REPOSITORY@sha256:…`` in the registry; every
    digest is checked to be there before anything is scanned."""
    from .. import staging
    from ..reference import parse_target
    from ..registry import holds

    if image or all_ or changed:
        raise SelectionConflictError()
    target = parse_target(registry) if registry else s.target
    recorded = staging.read(Path(digests))
    chosen = plans_for(s, select(s, sorted(recorded), False))
    for p in chosen:
        digest = recorded[p.name]
        if not holds(target, p.name, digest, attempts=s.push_attempts, max_wait=s.push_max_wait):
            raise StagedDigestMissingError(reference=f"{target.repository(p.name)}@{digest}")
    return chosen, {p.name: f"{target.repository(p.name)}@{recorded[p.name]}" for p in chosen}


def _print(report: scan_mod.ScanReport) -> None:
    if report.vulnerabilities_skipped:
        console.info(f"[yellow]note[/]: {escape(report.vulnerabilities_skipped)}")
    for finding in report.findings:
        where = f"{finding.target}:{finding.line}" if finding.line else finding.target
        console.info(
            f"  [red]{escape(finding.severity)}[/] {escape(finding.kind)} {escape(finding.id)} "
            f"{escape(where)}: {escape(finding.title)}"
        )
    console.info(
        f"scanned {escape(report.image)}: {len(report.findings)} finding(s), SBOM "
        f"{escape(report.sbom or '-')}"
    )
