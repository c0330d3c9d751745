"""Checks that keep every image honest: lint (hadolint + policy) and scan (trivy + syft)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.tasks import task
from rich.markup import escape

from .. import catalog as catalog_mod
from .. import console, policy
from .. import lint as lint_mod
from ..errors import LintFailure, UsageError
from ._common import listify, settings, speaks_errors

FORMATS = ("text", "json", "sarif")


def _write(data: dict[str, Any], output: str | None) -> None:
    text = jsonlib.dumps(data, indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        console.info(f"report written to {output}")
    else:
        print(text)


@task(
    iterable=["image"],
    help={
        "image": "image to lint (a directory name under images/); repeatable; default: all",
        "format": "text (default), json, or sarif (hadolint's run plus the policy's)",
        "output": "write the json/sarif report to this file instead of stdout",
    },
)
@speaks_errors
def lint(
    c: Context, image: list[str] | None = None, format: str = "text", output: str | None = None
) -> None:
    """Lint Dockerfiles with hadolint and check every image against the fleet policy."""
    s = settings(c)
    if format not in FORMATS:
        raise UsageError(f"invalid --format {format!r}", f"use one of: {', '.join(FORMATS)}")
    directories = catalog_mod.image_directories(s.images_dir)
    names = listify(image)
    if names:
        known = {d.name for d in directories}
        for name in names:
            if name not in known:
                catalog_mod.discover(s.images_dir).get(name)  # raises with close names
        directories = [d for d in directories if d.name in names]
    dockerfiles = [(d.name, d / catalog_mod.DOCKERFILE) for d in directories]
    config = s.root / lint_mod.CONFIG
    linted = lint_mod.run(dockerfiles, s.root, config)
    violations = policy.check(s.images_dir, s.targets, s.root, only=[d.name for d in directories])

    if format == "sarif":
        log = lint_mod.sarif(dockerfiles, s.root, config)
        log.setdefault("runs", []).append(policy.sarif_run(violations))
        _write(log, output)
    elif format == "json":
        _write(
            {
                "hadolint": [f.as_dict() for f in linted.findings],
                "hadolint_failed": linted.failed,
                "policy": [v.as_dict() for v in violations],
            },
            output,
        )
    else:
        for finding in linted.findings:
            console.info(f"[yellow]hadolint[/] {escape(str(finding))}")
        for violation in violations:
            console.info(f"[red]policy[/] {escape(str(violation))}")
    if linted.failed or violations:
        parts = []
        if linted.findings or linted.failed:
            codes = ", ".join(sorted({f.code for f in linted.findings}))
            parts.append(f"{len(linted.findings)} hadolint finding(s) ({codes})")
        if violations:
            rules = ", ".join(sorted({v.rule for v in violations}))
            parts.append(f"{len(violations)} policy violation(s) ({rules})")
        raise LintFailure(
            f"{' and '.join(parts)} in {len(dockerfiles)} image(s)",
            "fix them, or (hadolint) ignore a rule in .hadolint.yaml with the reason in a comment",
        )
    console.info(
        f"[green]clean[/]: {len(dockerfiles)} Dockerfile(s), hadolint and "
        f"{len(policy.RULES)} policy rules"
    )
