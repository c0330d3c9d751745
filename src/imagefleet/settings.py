"""Project settings: one frozen object built once from Invoke's layered config.

Precedence is Invoke's own: defaults below → ``invoke.yaml`` → ``INVOKE_FLEET_*`` environment →
task flags. Library functions take a :class:`Settings`, never the Invoke context.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import InvalidBuilderError
from .reference import Target, parse_target

Builder = Literal["auto", "buildx", "classic"]

# The one home of every default: Invoke's config layers start from it, and the dataclasses below
# read their field defaults from it.
DEFAULTS: dict[str, Any] = {
    "root": None,  # the project root; tasks.py fills in its own directory
    "images_dir": "images",
    "registry": "docker.io/webgrip",
    "registry_aliases": [],  # other HOST/NAMESPACE that serve the same images (mirrors, proxies)
    "global_paths": [],  # globs of files every image uses: a change to one affects all images
    "default_branch": "main",
    "platforms": [],  # empty: the daemon's native platform
    "builder": "auto",
    "source_url": None,  # OCI source label; default: the web URL of the git remote "origin"
    "push": {"attempts": 5, "max_wait": 8.0},
    # apprise URLs told what each successful push made available (imagefleet.notify); URLs that
    # carry tokens belong in the FLEET_NOTIFY_URLS environment variable instead.
    "notify": {"urls": []},
    "local_registry": {"port": 5000, "state_dir": ".fleet/registry"},
    "helm": {
        "binary": "helm",  # e.g. helm3 to deploy with Helm 3 where both are installed
        # Where --image/--tag land in the chart's values.
        "image_keys": {"repository": "image.repository", "tag": "image.tag"},
        "timeout": "5m",
        "history_max": 10,
        "lock_wait": 300,  # seconds to wait for another deploy of the same release
        "kubernetes_version": "",  # schemas for --dry-run; empty: the newest one available
        "deploy_image": "",  # for --in-container; empty: <registry>/helm-deploy:latest
    },
}


_HELM: dict[str, Any] = DEFAULTS["helm"]


@dataclass(frozen=True)
class HelmSettings:
    """Defaults of `invoke helm-deploy`."""

    binary: str = _HELM["binary"]
    image_repository_key: str = _HELM["image_keys"]["repository"]
    image_tag_key: str = _HELM["image_keys"]["tag"]
    timeout: str = _HELM["timeout"]
    history_max: int = _HELM["history_max"]
    lock_wait: float = _HELM["lock_wait"]
    kubernetes_version: str = _HELM["kubernetes_version"]
    deploy_image: str = _HELM["deploy_image"]


@dataclass(frozen=True)
class Settings:
    """Everything the library needs to know about the project and its defaults."""

    root: Path
    images_dir: Path
    target: Target
    aliases: tuple[Target, ...] = ()
    global_paths: tuple[str, ...] = ()
    default_branch: str = DEFAULTS["default_branch"]
    platforms: tuple[str, ...] = ()
    builder: Builder = DEFAULTS["builder"]
    source_url: str | None = None
    push_attempts: int = DEFAULTS["push"]["attempts"]
    push_max_wait: float = DEFAULTS["push"]["max_wait"]
    notify_urls: tuple[str, ...] = ()
    local_registry_port: int = DEFAULTS["local_registry"]["port"]
    local_registry_dir: Path = field(default=Path(DEFAULTS["local_registry"]["state_dir"]))
    helm: HelmSettings = field(default_factory=HelmSettings)

    @property
    def content_cache(self) -> Path:
        """Where file digests for content keys are remembered between runs: the user's cache
        directory, one file per checkout (never inside the tree, which it would make dirty)."""
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        checkout = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return base / "imagefleet" / f"content-files-{checkout}.json"

    @property
    def targets(self) -> tuple[Target, ...]:
        """The registry and its aliases: where this repository's images may be referenced from."""
        return (self.target, *self.aliases)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Build settings from the ``fleet`` section of the Invoke config (a mapping)."""
        merged: dict[str, Any] = {**DEFAULTS, **dict(config)}
        root = Path(merged["root"] or Path.cwd()).resolve()
        builder = str(merged["builder"])
        if builder not in ("auto", "buildx", "classic"):
            raise InvalidBuilderError(builder=builder)
        push = {**DEFAULTS["push"], **dict(merged.get("push") or {})}
        notify = {**DEFAULTS["notify"], **dict(merged.get("notify") or {})}
        local = {**DEFAULTS["local_registry"], **dict(merged.get("local_registry") or {})}
        helm = {**DEFAULTS["helm"], **dict(merged.get("helm") or {})}
        keys = {**DEFAULTS["helm"]["image_keys"], **dict(helm.get("image_keys") or {})}
        state_dir = Path(local["state_dir"])
        return cls(
            root=root,
            images_dir=root / str(merged["images_dir"]),
            target=parse_target(str(merged["registry"])),
            aliases=tuple(parse_target(str(a)) for a in merged["registry_aliases"] or ()),
            global_paths=tuple(str(g) for g in merged["global_paths"] or ()),
            default_branch=str(merged["default_branch"]),
            platforms=tuple(str(p) for p in merged["platforms"] or ()),
            builder=builder,  # type: ignore[arg-type]  # checked just above
            source_url=merged["source_url"],
            push_attempts=int(push["attempts"]),
            push_max_wait=float(push["max_wait"]),
            notify_urls=tuple(str(u) for u in notify["urls"] or ()),
            local_registry_port=int(local["port"]),
            local_registry_dir=state_dir if state_dir.is_absolute() else root / state_dir,
            helm=HelmSettings(
                binary=str(helm["binary"]),
                image_repository_key=str(keys["repository"]),
                image_tag_key=str(keys["tag"]),
                timeout=str(helm["timeout"]),
                history_max=int(helm["history_max"]),
                lock_wait=float(helm["lock_wait"]),
                kubernetes_version=str(helm["kubernetes_version"] or ""),
                deploy_image=str(helm["deploy_image"] or ""),
            ),
        )
