"""The one seam to git: commit, dirtiness, branch and origin of the project checkout."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import early
from .errors import (
    GitCommandError,
    GitError,
    GitMissingError,
    NotAGitCheckoutError,
    last_line,
)

LOGGER = logging.getLogger(__name__)


def run_git(root: Path, *args: str) -> str:
    """Run ``git args…`` in ``root`` and return its stripped standard output."""
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GitMissingError() from exc
    if done.returncode != 0:
        raise GitCommandError(command=" ".join(args), reason=_reason(done.stderr), root=root)
    return done.stdout.strip()


def _reason(stderr: str) -> str:
    # git says what went wrong in its first `fatal:`/`error:` line; advice may follow it.
    for line in stderr.splitlines():
        if line.startswith(("fatal: ", "error: ")):
            return line.strip()
    return last_line(stderr, "(no message)")


def remotes(root: Path) -> list[str]:
    """The names of the checkout's git remotes."""
    return run_git(root, "remote").split()


@dataclass(frozen=True)
class GitState:
    """What the tag policy and OCI labels need from the checkout."""

    sha: str
    dirty: bool
    branch: str | None  # None when detached and CI does not tell us
    committed_at: datetime
    origin: str | None = None  # the remote "origin" as an https URL (None: none, or a local path)

    @property
    def short_sha(self) -> str:
        """The 12-character abbreviation used in ``sha-<short>`` tags."""
        return self.sha[:12]


def _branch(status_header: str) -> str | None:
    # `git status --branch` heads its output with "## main...origin/main" or "## HEAD (no branch)".
    name = status_header.removeprefix("## ").split("...", 1)[0].strip()
    if name and not name.startswith(("HEAD (no branch)", "No commits yet")):
        return name
    # Detached HEAD, as in most CI checkouts: GitHub Actions names the branch it built.
    if os.environ.get("GITHUB_REF_TYPE") == "branch" and os.environ.get("GITHUB_REF_NAME"):
        return os.environ["GITHUB_REF_NAME"]
    return None


# `scheme://[user[:password]@]host[:port]/path` and scp-like `[user@]host:path` (git's rule: a colon
# before the first slash), as `git remote get-url` prints them.
_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/]*@)?(?P<host>[^/:?#]+)"
    r"(?::(?P<port>\d*))?(?P<path>/[^?#]*)?"
)
_SCP = re.compile(r"^(?:[^@/]*@)?(?P<host>[^/:]{2,}):(?P<path>[^/].*)$")


def web_url(remote: str) -> str | None:
    """The web URL of a git remote, for the ``org.opencontainers.image.source`` label.

    ``git@github.com:o/r.git``, ``ssh://git@github.com/o/r.git`` and
    ``https://user:t@github.com/o/r.git`` all become ``https://github.com/o/r``: never credentials,
    never ``.git`` (an ``http://`` remote stays http). A remote that is a local path (or
    ``file://``) is no source a reader can open: ``None``, and the label is left out.
    """
    remote = remote.strip()
    if match := _URL.match(remote):
        scheme = match["scheme"].lower()
        if scheme == "file":
            return None
        host, path = match["host"], (match["path"] or "").rstrip("/").removesuffix(".git")
        # An http(s) port serves the web UI too; ssh and git ports do not.
        port = f":{match['port']}" if scheme in ("http", "https") and match["port"] else ""
        web = "http" if scheme == "http" else "https"
        return f"{web}://{host}{port}{path}" if path else None
    if match := _SCP.match(remote):
        path = match["path"].rstrip("/").removesuffix(".git")
        return f"https://{match['host']}/{path}"
    return None  # a path on this machine: `/srv/git/images`, `../images`


def state(root: Path) -> GitState:
    """Read the checkout's state; raise :class:`GitError` when ``root`` is not a git checkout."""
    return early.take(("git", root), lambda: _read_state(root))


def ask_early(root: Path) -> None:
    """Read the checkout's state and tags early, in threads, for :func:`state` and
    :func:`tag_listing` (see :mod:`imagefleet.early`)."""
    early.ask(("git", root), lambda: _read_state(root))
    early.ask(("tags", root), lambda: _read_tags(root))


def tag_listing(root: Path) -> str:
    """Every tag of the checkout, a line each: ``name NUL object NUL peeled commit`` (the commit
    an annotated tag points at; empty for a lightweight tag)."""
    return early.take(("tags", root), lambda: _read_tags(root))


def _read_tags(root: Path) -> str:
    fields = "%(refname:strip=2)%00%(objectname)%00%(*objectname)"
    return run_git(root, "for-each-ref", "refs/tags", f"--format={fields}")


def _read_state(root: Path) -> GitState:
    # Three git calls, not five: this runs at the start of every build.
    try:
        sha, _, when = run_git(root, "log", "-1", "--format=%H %ct").partition(" ")
    except GitMissingError:
        raise
    except GitError as exc:
        raise NotAGitCheckoutError(root=root) from exc
    if not sha:
        raise NotAGitCheckoutError(root=root)
    header, _, changes = run_git(
        root, "status", "--porcelain", "--branch", "--untracked-files=normal"
    ).partition("\n")
    try:
        origin = web_url(run_git(root, "remote", "get-url", "origin"))
    except GitError:
        origin = None
    return GitState(
        sha=sha,
        dirty=bool(changes.strip()),
        branch=_branch(header),
        committed_at=datetime.fromtimestamp(int(when), tz=UTC),
        origin=origin,
    )
