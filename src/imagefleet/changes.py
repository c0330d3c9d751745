"""Which images a change affects: git diff against the merge-base of a ref, mapped to image dirs.

A change inside ``images/<dir>/`` affects that image; a change to a global path (``global_paths``
globs in ``invoke.yaml``) affects every image; every descendant of an affected image is affected
too. Deleted image directories are reported, never built. When the comparison is impossible (an
unknown ref, a shallow clone without the base, the first commit) everything is affected, with a
warning that says why.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .errors import GitError, NotAGitCheckoutError
from .git import run_git
from .graph import Graph
from .settings import Settings

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeSet:
    """The outcome of change detection."""

    base: str
    merge_base: str | None
    files: tuple[str, ...]
    affected: tuple[str, ...]  # in build order
    deleted: tuple[str, ...]  # image directories that no longer exist
    reasons: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None  # why everything was selected, when it was

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "base": self.base,
            "merge_base": self.merge_base,
            "images": list(self.affected),
            "deleted": list(self.deleted),
            "reasons": self.reasons,
            "fallback": self.fallback,
            "files": list(self.files),
        }

    def matrix(self) -> dict[str, list[dict[str, str]]]:
        """A GitHub Actions matrix: ``{"include": [{"image": name}, …]}``."""
        return {"include": [{"image": name} for name in self.affected]}


def _lines(text: str) -> list[str]:
    return [p for p in text.split("\0") if p]


def _fallback_reason(root: Path, base: str) -> str | None:
    """Why ``base`` cannot be compared with HEAD, or ``None`` when it can."""
    try:
        run_git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except GitError:
        # A shallow clone's oldest commit looks parentless too: ask about shallowness first.
        if run_git(root, "rev-parse", "--is-shallow-repository") == "true":
            return (
                f"base ref {base!r} is not in this shallow clone "
                "(fetch more history, e.g. actions/checkout with fetch-depth: 0)"
            )
        parents = run_git(root, "rev-list", "--parents", "-n", "1", "HEAD").split()
        if len(parents) == 1:
            return f"HEAD is the first commit: there is nothing before it to compare with {base!r}"
        return f"unknown base ref {base!r}"
    return None


def changed_files(
    root: Path, base: str, *, include_uncommitted: bool = False
) -> tuple[str | None, list[str], str | None]:
    """(merge-base, changed paths, fallback reason) between ``base`` and HEAD."""
    try:  # before the fallbacks: outside a checkout, every git call below fails
        run_git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    except GitError as exc:
        raise NotAGitCheckoutError(root=root) from exc
    reason = _fallback_reason(root, base)
    if reason is not None:
        return None, [], reason
    try:
        merge_base = run_git(root, "merge-base", base, "HEAD")
    except GitError:
        shallow = run_git(root, "rev-parse", "--is-shallow-repository") == "true"
        why = "this shallow clone lacks their common history" if shallow else "no common history"
        return None, [], f"{base!r} and HEAD have no merge-base: {why}"
    files = _lines(run_git(root, "diff", "--name-only", "-z", "--no-renames", merge_base, "HEAD"))
    if include_uncommitted:
        files += _lines(run_git(root, "diff", "--name-only", "-z", "--no-renames", "HEAD"))
        files += _lines(run_git(root, "ls-files", "--others", "--exclude-standard", "-z"))
    return merge_base, sorted(set(files)), None


def detect(
    settings: Settings,
    catalog: Catalog,
    graph: Graph,
    base: str,
    *,
    include_uncommitted: bool = False,
) -> ChangeSet:
    """The images affected by the changes between the merge-base of ``base`` and HEAD."""
    merge_base, files, fallback = changed_files(
        settings.root, base, include_uncommitted=include_uncommitted
    )
    if fallback is not None:
        LOGGER.warning("building everything: %s", fallback)
        everything = [n for wave in graph.waves() for n in wave]
        return ChangeSet(
            base=base,
            merge_base=None,
            files=(),
            affected=tuple(everything),
            deleted=(),
            reasons=dict.fromkeys(everything, f"fallback: {fallback}"),
            fallback=fallback,
        )

    images_prefix = settings.images_dir.relative_to(settings.root).as_posix() + "/"
    by_dir = {image.directory.name: image.name for image in catalog.images}
    reasons: dict[str, str] = {}
    deleted: set[str] = set()
    for path in files:
        glob = next((g for g in settings.global_paths if fnmatch.fnmatch(path, g)), None)
        if glob is not None:
            for name in catalog.names:
                reasons.setdefault(name, f"{path} changed (global path {glob})")
            continue
        if not path.startswith(images_prefix):
            continue
        directory, sep, _ = path[len(images_prefix) :].partition("/")
        if not sep:
            continue  # a file directly under images/ belongs to no image
        if directory in by_dir:
            reasons.setdefault(by_dir[directory], f"{path} changed")
        elif not (settings.images_dir / directory).exists():
            deleted.add(directory)
    for name in sorted(graph.descendants(reasons)):
        ancestor = next(p for p in sorted(graph.ancestors(name)) if p in reasons)
        reasons.setdefault(name, f"builds on {ancestor}")
    order = [n for wave in graph.waves(reasons) for n in wave]
    return ChangeSet(
        base=base,
        merge_base=merge_base,
        files=tuple(files),
        affected=tuple(order),
        deleted=tuple(sorted(deleted)),
        reasons={n: reasons[n] for n in order},
    )
