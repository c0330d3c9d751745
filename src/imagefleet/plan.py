"""What a build would do, as data: images, build args (and where each came from), labels, tags.

``--dry-run`` prints a plan and ``--json`` returns it; ``build`` executes exactly this plan, so
what is shown is what runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from . import contexts
from . import secrets as secrets_mod
from .catalog import Image
from .engine import BuildRequest
from .errors import (
    InvalidBuildArgError,
    InvalidPlatformError,
    UnknownPlatformError,
    UnusedBuildArgError,
)
from .git import GitState
from .settings import Settings
from .tags import TagSet, policy
from .versions import Releases

OCI = "org.opencontainers.image"


def parse_build_args(values: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings from the command line; a value may be empty, a key may not."""
    parsed: dict[str, str] = {}
    for value in values:
        key, eq, item = value.partition("=")
        if not eq or not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise InvalidBuildArgError(value=value)
        parsed[key] = item
    return parsed


# The platforms images can be built for: Go's GOOS and GOARCH values (what BuildKit and the OCI
# image index use), the spellings Docker normalizes to them, and the variants of the OCI spec.
KNOWN_OS = frozenset(
    {
        *("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux"),
        *("netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"),
    }
)
KNOWN_VARIANTS: dict[str, frozenset[str]] = {
    "386": frozenset(),
    "amd64": frozenset({"v1", "v2", "v3", "v4"}),
    "arm": frozenset({"v5", "v6", "v7", "v8"}),
    "arm64": frozenset({"v8", "v9"}),
    "loong64": frozenset(),
    "mips": frozenset(),
    "mips64": frozenset(),
    "mips64le": frozenset(),
    "mipsle": frozenset(),
    "ppc64": frozenset(),
    "ppc64le": frozenset(),
    "riscv64": frozenset(),
    "s390x": frozenset(),
    "wasm": frozenset(),
    # Spellings Docker accepts and normalizes (uname -m and Debian names).
    "x86_64": frozenset({"v1", "v2", "v3", "v4"}),
    "aarch64": frozenset({"v8", "v9"}),
    "i386": frozenset(),
    "armhf": frozenset(),
    "armel": frozenset(),
}


def parse_platforms(values: Sequence[str]) -> tuple[str, ...]:
    """``--platform`` (and ``fleet.platforms``) may repeat and may hold comma-separated lists;
    each item is os/arch[/variant] from the known set."""
    from .catalog import PLATFORM_RE

    platforms: list[str] = []
    for value in values:
        for raw in value.split(","):
            item = raw.strip()
            if not PLATFORM_RE.match(item):
                raise InvalidPlatformError(platform=item)
            _check_known(item)
            platforms.append(item)
    return tuple(dict.fromkeys(platforms))


def _check_known(platform: str) -> None:
    os_name, arch, *variant = platform.split("/")
    if os_name not in KNOWN_OS:
        raise UnknownPlatformError(
            platform=platform, part="OS", value=os_name, choices=", ".join(sorted(KNOWN_OS))
        )
    if arch not in KNOWN_VARIANTS:
        raise UnknownPlatformError(
            platform=platform,
            part="architecture",
            value=arch,
            choices=", ".join(sorted(KNOWN_VARIANTS)),
        )
    known = KNOWN_VARIANTS[arch]
    if variant and variant[0] not in known:
        raise UnknownPlatformError(
            platform=platform,
            part=f"{arch} variant",
            value=variant[0],
            choices=", ".join(sorted(known)) or "none",
        )


@dataclass(frozen=True)
class ImagePlan:
    """The build of one image."""

    image: Image
    base: str
    build_args: dict[str, str]  # effective values, for display
    arg_sources: dict[str, str]  # name -> "dockerfile" | "manifest" | "command line"
    overrides: dict[str, str]  # what is passed as --build-arg: manifest < command line
    labels: dict[str, str]
    tags: TagSet
    platforms: tuple[str, ...]
    aliases: tuple[str, ...] = ()  # more local references the build gets (its content key)
    root: Path | None = None  # the repository root: named local contexts are staged under it

    @property
    def name(self) -> str:
        """The image's name."""
        return self.image.name

    @property
    def local_ref(self) -> str:
        """The reference ``build`` gives the image: ``<name>:<full sha>``."""
        return f"{self.name}:{self.tags.primary}"

    def request(
        self,
        *,
        no_cache: bool = False,
        parents: Mapping[str, str] | None = None,
        batch_parents: Mapping[str, str] | None = None,
    ) -> BuildRequest:
        """The engine request that carries this plan out (``parents``: reference -> local image
        built before; ``batch_parents``: reference -> image built in the same batch). An image
        with named local contexts has them staged now, just before its build."""
        staged = (
            contexts.stage(self.image, self.root or Path.cwd())
            if self.image.manifest.contexts
            else {}
        )
        return BuildRequest(
            image=self.name,
            context=self.image.directory,
            dockerfile=self.image.dockerfile_path,
            tags=(self.local_ref, *self.aliases),
            build_args=self.overrides,
            labels=self.labels,
            platforms=self.platforms,
            no_cache=no_cache,
            base=self.base,
            from_scope=self.image.dockerfile.from_scope(self.overrides),
            parents=dict(parents or {}),
            batch_parents=dict(batch_parents or {}),
            contexts=staged,
            # Read when the build starts: the values stay in the environment buildx inherits.
            secrets=secrets_mod.specs(self.image.manifest.secrets, os.environ),
        )

    def as_dict(self, root: Path | None = None) -> dict[str, Any]:
        """JSON-ready form, paths relative to ``root`` when given."""
        directory = self.image.directory
        shown: dict[str, Any] = {
            "image": self.name,
            "directory": str(directory.relative_to(root) if root else directory),
            "base": self.base,
            "local_ref": self.local_ref,
            "tags": list(self.tags.tags),
            "platforms": list(self.platforms),
            "build_args": self.build_args,
            "build_arg_sources": self.arg_sources,
            "labels": self.labels,
        }
        if self.image.manifest.secrets:  # ids and variable names: a value is never shown
            shown["secrets"] = {
                name: {"env": secret.env, "optional": secret.optional}
                for name, secret in sorted(self.image.manifest.secrets.items())
            }
        return shown


def _labels(
    image: Image, base: str, git: GitState, tags: TagSet, source: str | None
) -> dict[str, str]:
    # The commit time, dirty tree or not: never the wall clock, so rebuilding the same content
    # yields the same labels and the same image (reproducible, no dangling images).
    created = git.committed_at.astimezone(UTC)
    labels = {
        f"{OCI}.title": image.name,
        f"{OCI}.description": image.description,
        f"{OCI}.revision": git.sha,
        f"{OCI}.created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{OCI}.version": tags.version if tags.version and not git.dirty else tags.primary,
        f"{OCI}.base.name": base,
    }
    if source:
        labels[f"{OCI}.source"] = source
    if image.manifest.owner:
        labels[f"{OCI}.vendor"] = image.manifest.owner
    return labels


def plan_image(
    image: Image,
    settings: Settings,
    git: GitState,
    *,
    cli_args: Mapping[str, str] | None = None,
    platforms: tuple[str, ...] = (),
    force_latest: bool = False,
    releases: Releases | None = None,
) -> ImagePlan:
    """Plan one image's build (``releases``: the checkout's release tags, read once per run)."""
    declared = image.dockerfile.arg_defaults()
    cli = {k: v for k, v in (cli_args or {}).items() if k in declared}
    sources = {k: "dockerfile" for k, v in declared.items() if v is not None}
    sources.update(dict.fromkeys(image.manifest.build_args, "manifest"))
    sources.update(dict.fromkeys(cli, "command line"))
    overrides = {**image.manifest.build_args, **cli}
    base = image.dockerfile.base_image(overrides)
    tags = policy(
        image,
        git,
        default_branch=settings.default_branch,
        force_latest=force_latest,
        releases=releases,
    )
    return ImagePlan(
        image=image,
        base=base,
        build_args=image.build_args(cli),
        arg_sources=sources,
        overrides=overrides,
        labels=_labels(image, base, git, tags, settings.source_url or git.origin),
        tags=tags,
        platforms=platforms or image.manifest.platforms or settings.platforms,
        root=settings.root,
    )


def plan_images(
    images: Sequence[Image],
    settings: Settings,
    git: GitState,
    *,
    cli_args: Mapping[str, str] | None = None,
    platforms: tuple[str, ...] = (),
    force_latest: bool = False,
    releases: Releases | None = None,
) -> list[ImagePlan]:
    """Plan several images; a ``--build-arg`` that none of them declares is an error (a typo)."""
    cli_args = dict(cli_args or {})
    unused = set(cli_args) - {a for i in images for a in i.dockerfile.arg_defaults()}
    if unused:
        raise UnusedBuildArgError(
            names=", ".join(sorted(unused)),
            images="any selected image" if len(images) > 1 else images[0].name if images else "it",
        )
    return [
        plan_image(
            i,
            settings,
            git,
            cli_args=cli_args,
            platforms=platforms,
            force_latest=force_latest,
            releases=releases,
        )
        for i in images
    ]
