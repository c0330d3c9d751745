"""Project settings: one frozen object built once from Invoke's layered config.

Precedence is Invoke's own: defaults below → ``invoke.yaml`` → ``INVOKE_FLEET_*`` environment →
task flags. Library functions take a :class:`Settings`, never the Invoke context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import UsageError
from .reference import Target, parse_target

Builder = Literal["auto", "buildx", "classic"]

DEFAULTS: dict[str, Any] = {
    "root": None,  # the project root; tasks.py fills in its own directory
    "images_dir": "images",
    "registry": "docker.io/webgrip",
    "registry_aliases": [],  # other HOST/NAMESPACE that serve the same images (mirrors, proxies)
    "global_paths": [],  # globs of files every image uses: a change to one affects all images
    "default_branch": "main",
    "platforms": [],  # empty: the daemon's native platform
    "builder": "auto",
    "source_url": None,  # OCI source label; default: the git remote "origin"
    "push": {"attempts": 5, "max_wait": 8.0},
    "local_registry": {"port": 5000, "state_dir": ".fleet/registry"},
}


@dataclass(frozen=True)
class Settings:
    """Everything the library needs to know about the project and its defaults."""

    root: Path
    images_dir: Path
    target: Target
    aliases: tuple[Target, ...] = ()
    global_paths: tuple[str, ...] = ()
    default_branch: str = "main"
    platforms: tuple[str, ...] = ()
    builder: Builder = "auto"
    source_url: str | None = None
    push_attempts: int = 5
    push_max_wait: float = 8.0
    local_registry_port: int = 5000
    local_registry_dir: Path = field(default=Path(".fleet/registry"))

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
            raise UsageError(
                f"invalid builder {builder!r} in fleet.builder",
                "use one of: auto, buildx, classic",
            )
        push = {**DEFAULTS["push"], **dict(merged.get("push") or {})}
        local = {**DEFAULTS["local_registry"], **dict(merged.get("local_registry") or {})}
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
            local_registry_port=int(local["port"]),
            local_registry_dir=state_dir if state_dir.is_absolute() else root / state_dir,
        )
