"""Per-image releases: the next version from the Conventional Commits since an image's last
``<image>-v<version>`` tag, the release notes, and the annotated tags (no commit is ever pushed).

Rules, decided per image in build order:

- the commits since the last release tag that touched the image's directory or a global path
  decide the bump: ``feat`` minor, ``fix``/``perf`` patch, ``!`` or ``BREAKING CHANGE`` major
  (minor before 1.0.0); other types release nothing;
- a parent released since the image's last release (in this run or before) gives it at least a
  patch release: its image is rebuilt on the new parent;
- an image never released gets its first release at its ``image.yml`` ``version`` when it has one
  (so the first tag continues the manifest's numbering), else at 0.1.0;
- an image whose release tag already points at HEAD releases nothing: a rerun is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import commits as commits_mod
from .commits import Change
from .errors import (
    GitCommandError,
    GitError,
    ReleasePushError,
    ShallowCloneError,
    UnknownRemoteError,
)
from .git import remotes, run_git
from .graph import Graph
from .settings import Settings
from .versions import Bump, Releases, bump, release_tag

LOGGER = logging.getLogger(__name__)

FIRST_VERSION = "0.1.0"
CHANGELOG = "CHANGELOG.md"
# Release-note sections, in the order they are shown; a change goes in the first that fits.
_SECTIONS: tuple[tuple[str, Callable[[Change], bool]], ...] = (
    ("Breaking changes", lambda c: c.bump is Bump.MAJOR or bool(c.breaking)),
    ("Features", lambda c: c.type == "feat"),
    ("Bug fixes", lambda c: c.type == "fix"),
    ("Performance", lambda c: c.type == "perf"),
    ("Reverts", lambda c: c.type == "revert"),
)
_OTHER = "Other changes"
# Who signs the tags when git has no identity configured (a fresh CI runner).
_FALLBACK_IDENTITY = ("-c", "user.name=imagefleet", "-c", "user.email=imagefleet@localhost")


@dataclass(frozen=True)
class Decision:
    """One image's release in this run, or why there is none."""

    image: str
    commit: str  # the commit the release tag points at (HEAD)
    current: str | None  # the last released version; None: never released
    next: str | None  # None: nothing to release
    bump: Bump
    changes: tuple[Change, ...]  # the commits that decided it, oldest first
    parents: tuple[str, ...] = ()  # "<parent> <version>" released since the last release
    reason: str = ""

    @property
    def releases(self) -> bool:
        """Whether this run releases the image."""
        return self.next is not None

    @property
    def tag(self) -> str | None:
        """The release tag this run creates."""
        return release_tag(self.image, self.next) if self.next else None

    def notes(self) -> str:
        """The release notes: the tag's message, grouped by type, with short shas."""
        lines = [f"{self.image} {self.next}", ""]
        if self.current is None:
            lines += ["First release.", ""]
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            if change.bump > Bump.NONE:
                title = next((t for t, fits in _SECTIONS if fits(change)), _OTHER)
                grouped.setdefault(title, []).append(change)
        for title in (*(t for t, _ in _SECTIONS), _OTHER):
            if title in grouped:
                lines += [f"### {title}", "", *(_entry(c) for c in grouped[title]), ""]
        if self.parents:
            lines += ["### Dependencies", "", *(f"- builds on {p}" for p in self.parents), ""]
        return "\n".join(lines).rstrip() + "\n"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: versions, bump, and the commits that decided it."""
        return {
            "image": self.image,
            "current": self.current,
            "next": self.next,
            "bump": "first" if self.current is None and self.next else str(self.bump),
            "tag": self.tag,
            "commit": self.commit,
            "reason": self.reason,
            "parents": list(self.parents),
            "commits": [c.as_dict() for c in self.changes if c.bump > Bump.NONE],
        }


def _entry(change: Change) -> str:
    scope = f"**{', '.join(change.scopes)}:** " if change.scopes else ""
    breaking = "".join(f"\n  BREAKING CHANGE: {b}" for b in change.breaking)
    return f"- {scope}{change.subject} ({change.short_sha}){breaking}"


def require_history(root: Path) -> None:
    """Raise :class:`ShallowCloneError` in a shallow clone: its oldest commit looks like the
    first one, so every image would look unreleased or short of commits."""
    if run_git(root, "rev-parse", "--is-shallow-repository") == "true":
        raise ShallowCloneError(root=root)


class _History:
    """``git log`` per range, each range read once however many images share it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._logs: dict[tuple[str, ...], list[commits_mod.Commit]] = {}

    def commits(self, revisions: tuple[str, ...]) -> list[commits_mod.Commit]:
        if revisions not in self._logs:
            self._logs[revisions] = commits_mod.log(self.root, revisions)
        return self._logs[revisions]


def decide(
    settings: Settings,
    graph: Graph,
    names: Sequence[str],
    releases: Releases,
    head: str,
) -> list[Decision]:
    """Each of ``names`` (in build order)'s release at commit ``head``; touches nothing."""
    require_history(settings.root)
    history = _History(settings.root)
    decided: dict[str, Decision] = {}
    for name in names:
        decided[name] = _decide_one(settings, graph, name, releases, head, history, decided)
    return [decided[n] for n in names]


def _decide_one(
    settings: Settings,
    graph: Graph,
    name: str,
    releases: Releases,
    head: str,
    history: _History,
    decided: Mapping[str, Decision],
) -> Decision:
    image = graph.images[name]
    last = releases.latest(name)
    at_head = releases.at(name, head)
    if at_head is not None:
        return Decision(name, head, at_head.version, None, Bump.NONE, (), reason="released")
    revisions = (f"{last.commit}..{head}",) if last else (head,)
    in_range = history.commits(revisions)
    directory = image.directory.relative_to(settings.root).as_posix()
    mine = [c for c in in_range if commits_mod.touches(c, directory, settings.global_paths)]
    changes = tuple(commits_mod.changes(mine))
    level = max((c.bump for c in changes), default=Bump.NONE)
    shas = {c.sha for c in in_range}
    parents = tuple(
        f"{parent} {version}"
        for parent in graph.parent_names(name)
        for version in _parent_releases(parent, releases, shas, decided)
    )
    if parents and level < Bump.PATCH:
        level = Bump.PATCH
    if last is None:
        first = image.version or FIRST_VERSION
        why = "image.yml version" if image.version else f"no version in image.yml: {FIRST_VERSION}"
        return Decision(name, head, None, first, level, changes, parents, f"first release ({why})")
    if level is Bump.NONE:
        why = "no releasable commits" if in_range else "no commits"
        return Decision(name, head, last.version, None, level, changes, parents, why)
    count = sum(1 for c in changes if c.bump > Bump.NONE)
    reasons = [f"{count} releasable commit{'s' * (count != 1)}"] if count else []
    reasons += [f"parent {p}" for p in parents]
    return Decision(
        name,
        head,
        last.version,
        bump(last.version, level),
        level,
        changes,
        parents,
        "; ".join(reasons),
    )


def _parent_releases(
    parent: str, releases: Releases, shas: set[str], decided: Mapping[str, Decision]
) -> list[str]:
    """The parent's versions released since the child's last release: tagged on a commit in
    the child's range, or released by this run."""
    found = [r.version for r in releases.of(parent) if r.commit in shas]
    now = decided.get(parent)
    if now is not None and now.next is not None:
        found.insert(0, now.next)
    return found[:1]  # the newest is what the child now builds on


def _identity(root: Path) -> tuple[str, ...]:
    try:
        run_git(root, "config", "user.email")
    except GitError:
        return _FALLBACK_IDENTITY
    return ()


def create_tags(root: Path, decisions: Sequence[Decision]) -> list[str]:
    """Create the annotated release tags of ``decisions`` (the notes are their messages)."""
    created = []
    identity = _identity(root)
    for decision in decisions:
        if decision.tag is None:
            continue
        # verbatim: the notes' markdown headings start with '#', which git would strip.
        run_git(
            root,
            *identity,
            "tag",
            "--annotate",
            "--cleanup=verbatim",
            "--message",
            decision.notes(),
            decision.tag,
            decision.commit,
        )
        LOGGER.info("tagged %s at %s", decision.tag, decision.commit[:12])
        created.append(decision.tag)
    return created


def check_remote(root: Path, remote: str) -> None:
    """Refuse a ``--remote`` the checkout does not have, before any tag is made."""
    known = remotes(root)
    if remote not in known:
        choices = f"use one of: {', '.join(known)}" if known else "add one with `git remote add`"
        raise UnknownRemoteError(remote=remote, choices=choices)


def push_tags(root: Path, remote: str, tags: Sequence[str]) -> None:
    """Push ``tags`` to ``remote`` in one atomic push: all of them or none. When the push fails
    the local tags are deleted too, so nothing of the release is left and a rerun goes again."""
    if not tags:
        return
    try:
        run_git(root, "push", "--atomic", remote, *(f"refs/tags/{t}" for t in tags))
    except GitCommandError as exc:
        run_git(root, "tag", "--delete", *tags)
        raise ReleasePushError(remote=remote, reason=exc.fields["reason"]) from exc


def write_changelog(path: Path, decision: Decision, when: datetime) -> bool:
    """Put ``decision``'s notes at the top of the CHANGELOG at ``path``; False when it already
    has this version (a rerun changes nothing)."""
    heading = f"## {decision.next} ({when.date().isoformat()})"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Changelog\n"
    if f"## {decision.next} (" in text:
        return False
    body = decision.notes().split("\n", 2)[2].replace("### ", "#### ").rstrip()
    head, sep, rest = text.partition("\n## ")
    entry = f"{heading}\n\n{body}\n"
    new = f"{head.rstrip()}\n\n{entry}" + (f"\n## {rest}" if sep else "")
    path.write_text(new.rstrip() + "\n", encoding="utf-8")
    return True
