"""Conventional Commits in a range of history: what each commit changed and how far it bumps.

Messages are parsed by python-semantic-release's Conventional Commits parser (type, scope, ``!``,
``BREAKING CHANGE:`` footers, squashed bodies); this module adds what a monorepo needs around it:
the files each commit touched, multi-scope headers, merges and reverts.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .git import run_git
from .versions import Bump

if TYPE_CHECKING:
    from semantic_release.commit_parser.conventional.parser import ConventionalCommitParser

# Fields of `git log` output: a record mark no commit message contains, NUL between fields.
# (Not ASCII's record separator \x1e: Python counts it as whitespace, and run_git strips that.)
_RECORD = "\x01"
_FORMAT = f"--format={_RECORD}%H%x00%P%x00%B%x00"
# git revert's own wording, and the `Refs:` footer the Conventional Commits spec suggests.
_REVERTS_RE = re.compile(r"(?:This reverts commit|^Refs:)\s+([0-9a-f]{7,40})", re.MULTILINE)
_REVERT_HEADER_RE = re.compile(r'^(?:Revert "|revert(?:\([^)]*\))?!?:)')
_TYPES = ("feat", "fix", "perf", "build", "chore", "ci", "docs", "refactor", "revert", "style")
_TYPES_ALSO = ("test",)


@dataclass(frozen=True)
class Change:
    """One commit's part in a release: its header, type, scopes and bump."""

    sha: str
    header: str
    type: str | None  # None: not a Conventional Commit (it releases nothing)
    scopes: tuple[str, ...]
    subject: str
    bump: Bump
    breaking: tuple[str, ...] = ()  # BREAKING CHANGE descriptions
    note: str | None = None  # why the bump is not what the header says (a revert, …)

    @property
    def short_sha(self) -> str:
        """The 7-character abbreviation the release notes show."""
        return self.sha[:7]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sha": self.sha,
            "header": self.header,
            "type": self.type,
            "scopes": list(self.scopes),
            "bump": str(self.bump),
            "breaking": list(self.breaking),
            "note": self.note,
        }


@dataclass(frozen=True)
class Commit:
    """A commit as git log gives it."""

    sha: str
    parents: tuple[str, ...]
    message: str
    files: tuple[str, ...]

    @property
    def is_merge(self) -> bool:
        """Merges change nothing of their own: the merged commits are in the range themselves."""
        return len(self.parents) > 1


def log(root: Path, revisions: Sequence[str]) -> list[Commit]:
    """Commits of ``git log revisions`` (newest first) with the files each one touched."""
    text = run_git(root, "log", _FORMAT, "--name-only", "-z", "--no-renames", *revisions, "--")
    commits = []
    for record in text.split(_RECORD)[1:]:
        sha, parents, message, *files = record.split("\0")
        commits.append(
            Commit(
                sha=sha,
                parents=tuple(parents.split()),
                message=message.strip(),
                files=tuple(f.strip("\n") for f in files if f.strip("\n")),
            )
        )
    return commits


def touches(commit: Commit, directory: str, global_paths: Iterable[str]) -> bool:
    """Whether ``commit`` changed an input of the image in ``directory`` (relative to the
    repository: ``images/<name>``): a file below it, or a global path (read as ``changes`` does)."""
    prefix = directory.rstrip("/") + "/"
    globs = tuple(global_paths)
    return any(
        f.startswith(prefix) or any(fnmatch.fnmatch(f, g) for g in globs) for f in commit.files
    )


@functools.cache
def _parser() -> ConventionalCommitParser:
    # Imported on first use: the parser package loads GitPython and takes ~0.3 s.
    from semantic_release.commit_parser.conventional.options import (
        ConventionalCommitParserOptions,
    )
    from semantic_release.commit_parser.conventional.parser import ConventionalCommitParser

    return ConventionalCommitParser(
        ConventionalCommitParserOptions(other_allowed_tags=_TYPES[3:] + _TYPES_ALSO)
    )


def _bump(level: int) -> Bump:
    # semantic-release's LevelBump: 0 no release, 1 pre-release revision, 2 patch, 3 minor, 4 major
    return {4: Bump.MAJOR, 3: Bump.MINOR, 2: Bump.PATCH}.get(level, Bump.NONE)


def parse(sha: str, message: str) -> list[Change]:
    """The Conventional Commits in one commit message: one, or several in a squash merge's body.

    A message that is not a Conventional Commit gives one change with ``type`` None (no bump).
    """
    parser = _parser()
    header = message.partition("\n")[0].strip()
    changes = []
    for part in parser.unsquash_commit_message(message) or [message]:
        result = parser.parse_message(part)
        part_header = part.strip().partition("\n")[0].strip()
        if result is None:
            changes.append(Change(sha, part_header, None, (), part_header, Bump.NONE))
            continue
        scopes = tuple(s.strip() for s in re.split(r"[,/]", result.scope) if s.strip())
        changes.append(
            Change(
                sha=sha,
                header=part_header,
                type=result.type,
                scopes=scopes,
                subject=result.descriptions[0] if result.descriptions else part_header,
                bump=_bump(int(result.bump)),
                breaking=tuple(result.breaking_descriptions),
            )
        )
    if len(changes) > 1 and all(c.type is None for c in changes):
        return [Change(sha, header, None, (), header, Bump.NONE)]
    return [c for c in changes if c.type is not None] or changes[:1]


def _reverted(message: str) -> tuple[str, ...] | None:
    """The commits a revert names (maybe none), or None when ``message`` is not a revert."""
    if not _REVERT_HEADER_RE.match(message):
        return None
    return tuple(_REVERTS_RE.findall(message))


def _revert_of_released(sha: str, message: str) -> Change:
    """A revert whose commit was released before: a patch when that commit released anything."""
    header = message.partition("\n")[0].strip()
    inner = header.removeprefix('Revert "').removesuffix('"')
    if inner == header:
        inner = header.partition(":")[2].strip()
    released = any(c.bump > Bump.NONE for c in parse(sha, inner))
    return Change(
        sha=sha,
        header=header,
        type="revert",
        scopes=(),
        subject=inner,
        bump=Bump.PATCH if released else Bump.NONE,
        note="reverts a released change" if released else "reverts a change that released nothing",
    )


def changes(commits: Sequence[Commit]) -> list[Change]:
    """The changes of ``commits`` (newest first, as git log gives them), oldest first.

    Merges are skipped: their message is git's or the forge's, and every commit they bring in is
    in the range on its own. A revert cancels the commit it reverts when both are in the range
    (neither is released); reverting a commit released before is a fix (a patch) when that commit
    released anything. Walking newest first makes a revert of a revert restore the original.
    """
    in_range = [c.sha for c in commits]
    cancelled: set[str] = set()
    found: list[list[Change]] = []
    for commit in commits:
        if commit.is_merge or commit.sha in cancelled:
            continue
        targets = _reverted(commit.message)
        if targets is None:
            found.append(parse(commit.sha, commit.message))
            continue
        inside = {
            full
            for t in targets
            if (full := next((s for s in in_range if s.startswith(t)), None)) is not None
        }
        if inside:
            cancelled.update(inside)  # the revert and what it reverts cancel out
        else:
            found.append([_revert_of_released(commit.sha, commit.message)])
    return [change for group in reversed(found) for change in group]
