"""The tag policy: which tags an image gets for a commit.

Always ``<full sha>`` and ``sha-<12>``; ``<version>`` only for the commit its release tag
(``<image>-v<version>``, see :mod:`.release`) points at, ``<major>.<minor>`` and ``<major>`` when
that release is the newest of its line; the manifest's ``version`` only for an image that was
never released; the manifest's extra tags; ``latest`` only on the default branch (or when forced).
A dirty working tree gets ``-dirty`` sha tags and nothing else, so a clean sha tag always means
exactly that commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .catalog import SEMVER_RE, Image
from .git import GitState
from .reference import validate_tag
from .versions import Releases

LOGGER = logging.getLogger(__name__)

LATEST = "latest"
DIRTY_SUFFIX = "-dirty"


@dataclass(frozen=True)
class TagSet:
    """Tags for one image, in push order: the sha tags (the immutable ones) first, then the
    floating ones, ``latest`` (if any) last."""

    primary: str  # the tag `build` gives the image; identifies "this image for this commit"
    tags: tuple[str, ...]
    version: str | None = None  # the release (or manifest fallback) version this commit is

    @property
    def moves_latest(self) -> bool:
        """Whether this push moves ``latest``."""
        return LATEST in self.tags

    @property
    def before_latest(self) -> tuple[str, ...]:
        """Every tag that must be pushed and verified before ``latest`` moves."""
        return tuple(t for t in self.tags if t != LATEST)


def version_tags(version: str) -> tuple[str, ...]:
    """``1.2.3`` → ``1.2.3, 1.2, 1``; pre-releases get only their full version; ``0.y.z`` no ``0``.

    A ``0`` major promises no compatibility, so a floating ``:0`` would mislead; a pre-release
    must never move the aliases of a stable line. Build metadata (``+…``) is not allowed in tags
    and becomes ``_`` as Docker's own tooling does.
    """
    match = SEMVER_RE.match(version)
    if not match:
        return ()
    full = version.replace("+", "_")
    if match["prerelease"]:
        return (full,)
    major, minor = match["major"], match["minor"]
    minor_tag = f"{major}.{minor}"
    if major == "0":
        return (full, minor_tag)
    return (full, minor_tag, major)


def primary_tag(git: GitState) -> str:
    """The full-sha tag (``-dirty`` when the tree has uncommitted changes)."""
    return git.sha + (DIRTY_SUFFIX if git.dirty else "")


def policy(
    image: Image,
    git: GitState,
    *,
    default_branch: str,
    force_latest: bool = False,
    releases: Releases | None = None,
) -> TagSet:
    """Apply the tag policy to ``image`` built from the checkout described by ``git``;
    ``releases``: the checkout's release tags (None or empty: the manifest's version)."""
    primary = primary_tag(git)
    if git.dirty:
        if force_latest:
            LOGGER.warning(
                "%s: not moving latest: the working tree has uncommitted changes", image.name
            )
        return TagSet(primary=primary, tags=(primary, f"sha-{git.short_sha}{DIRTY_SUFFIX}"))
    tags: list[str] = [primary, f"sha-{git.short_sha}"]
    version: str | None = None
    if releases is not None and releases.of(image.name):
        released = releases.at(image.name, git.sha)
        if released is not None:
            version = released.version
            tags.extend(releases.version_tags(image.name, git.sha))
    elif image.version:
        version = image.version
        tags.extend(version_tags(image.version))
    tags.extend(image.manifest.tags)
    if force_latest or (git.branch is not None and git.branch == default_branch):
        tags.append(LATEST)
    unique = tuple(dict.fromkeys(validate_tag(t) for t in tags))
    return TagSet(primary=primary, tags=unique, version=version)
