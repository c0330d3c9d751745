"""Release versions: ``<image>-v<semver>`` git tags, read once per run, and semver order and bumps.

The tag policy asks which release (if any) the commit being built is, and which release is the
newest of its line; ``release`` asks where each image's last release is. Both read the same index,
built from one ``git for-each-ref`` call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from .catalog import SEMVER_RE
from .git import tag_listing

TAG_SEPARATOR = "-v"


class Bump(IntEnum):
    """How far a release moves the version; ordered, so the largest of several wins."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    def __str__(self) -> str:
        return self.name.lower()


def release_tag(image: str, version: str) -> str:
    """The git tag of ``image``'s release ``version``: ``<image>-v<version>``."""
    return f"{image}{TAG_SEPARATOR}{version}"


def _identifier_key(part: str) -> tuple[int, int, str]:
    # semver.org §11: numeric identifiers compare numerically and sort before alphanumeric ones.
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


def version_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
    """A sort key in semver precedence: a pre-release sorts before its release; build metadata
    is ignored. ``version`` must be a semantic version."""
    match = SEMVER_RE.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    pre = match["prerelease"]
    identifiers = tuple(_identifier_key(p) for p in pre.split(".")) if pre else ()
    major, minor, patch = int(match["major"]), int(match["minor"]), int(match["patch"])
    return major, minor, patch, 0 if pre else 1, identifiers


def bump(version: str, level: Bump) -> str:
    """The next version after ``version``: before 1.0.0 a breaking change bumps the minor (a
    ``0`` major promises no compatibility, and 1.0.0 is a decision, not an accident); a
    pre-release is finished by any bump of the part it is a pre-release of."""
    match = SEMVER_RE.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch = int(match["major"]), int(match["minor"]), int(match["patch"])
    pre = bool(match["prerelease"])
    if level is Bump.MAJOR and major == 0:
        level = Bump.MINOR
    if level is Bump.MAJOR:
        return f"{major}.0.0" if pre and minor == patch == 0 else f"{major + 1}.0.0"
    if level is Bump.MINOR:
        return f"{major}.{minor}.0" if pre and patch == 0 else f"{major}.{minor + 1}.0"
    if level is Bump.PATCH:
        return f"{major}.{minor}.{patch}" if pre else f"{major}.{minor}.{patch + 1}"
    return version


@dataclass(frozen=True)
class Release:
    """One release tag of one image."""

    image: str
    version: str
    tag: str
    commit: str  # the commit the tag points at (peeled)


@dataclass(frozen=True)
class Releases:
    """Every image's release tags in the checkout, newest first per image."""

    by_image: Mapping[str, tuple[Release, ...]] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()  # every tag name in the checkout

    def of(self, image: str) -> tuple[Release, ...]:
        """``image``'s releases, newest version first."""
        return self.by_image.get(image, ())

    def latest(self, image: str) -> Release | None:
        """``image``'s newest release, or ``None`` when it was never released."""
        found = self.of(image)
        return found[0] if found else None

    def at(self, image: str, commit: str) -> Release | None:
        """The newest release of ``image`` whose tag points at ``commit``."""
        return next((r for r in self.of(image) if r.commit == commit), None)

    def version_tags(self, image: str, commit: str) -> tuple[str, ...]:
        """The version tags an image built from ``commit`` gets: ``<version>`` when a release
        tag points at it; ``<major>.<minor>`` / ``<major>`` when that release is the newest of
        its minor / major line (``:0`` never: a 0 major promises nothing); a pre-release gets
        only its full version."""
        release = self.at(image, commit)
        if release is None:
            return ()
        match = SEMVER_RE.match(release.version)
        assert match is not None  # noqa: S101 - only semantic versions are indexed
        full = release.version.replace("+", "_")
        if match["prerelease"]:
            return (full,)
        tags = [full]
        major, minor = match["major"], match["minor"]
        stable = [
            m for r in self.of(image) if (m := SEMVER_RE.match(r.version)) and not m["prerelease"]
        ]
        # Newest first: the first stable release of a line is the newest of that line.
        if next(m for m in stable if (m["major"], m["minor"]) == (major, minor))[0] == (match[0]):
            tags.append(f"{major}.{minor}")
        if major != "0" and next(m for m in stable if m["major"] == major)[0] == match[0]:
            tags.append(major)
        return tuple(tags)


def parse_tag(tag: str, names: Iterable[str]) -> tuple[str, str] | None:
    """``(image, version)`` when ``tag`` is ``<image>-v<semver>`` for one of ``names``."""
    known = set(names)
    start = tag.find(TAG_SEPARATOR)
    while start > 0:
        image, version = tag[:start], tag[start + len(TAG_SEPARATOR) :]
        if image in known and SEMVER_RE.match(version):
            return image, version
        start = tag.find(TAG_SEPARATOR, start + 1)
    return None


def index(root: Path, names: Iterable[str]) -> Releases:
    """Every release tag of ``names`` in the checkout at ``root``: one git call for the fleet."""
    known = set(names)
    listing = tag_listing(root)
    found: dict[str, list[Release]] = {}
    tags: set[str] = set()
    for line in listing.splitlines():
        tag, _, rest = line.partition("\0")
        target, _, peeled = rest.partition("\0")
        tags.add(tag)
        parsed = parse_tag(tag, known)
        if parsed is not None:
            image, version = parsed
            found.setdefault(image, []).append(Release(image, version, tag, peeled or target))
    return Releases(
        by_image={
            image: tuple(sorted(rs, key=lambda r: version_key(r.version), reverse=True))
            for image, rs in found.items()
        },
        tags=frozenset(tags),
    )
