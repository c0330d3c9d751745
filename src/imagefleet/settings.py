"""Project settings: one frozen object built once from Invoke's layered config, and checked then
(the schema is :mod:`imagefleet.config`).

Precedence is Invoke's own: defaults below → ``invoke.yaml`` → ``INVOKE_FLEET_*`` environment →
task flags. Library functions take a :class:`Settings`, never the Invoke context.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import checked
from .errors import (
    InvalidBuilderError,
    InvalidReferenceError,
    InvalidRegistrySettingError,
    InvalidSettingError,
    UsageError,
)
from .reference import Target, parse_reference, parse_target

Builder = Literal["auto", "buildx", "classic"]
Cache = Literal["none", "registry"]
# How the local engine is driven; any other name in fleet.builder is a buildx builder.
LOCAL_BUILDERS: tuple[Builder, ...] = ("auto", "buildx", "classic")
# What buildx accepts as a builder name.
_BUILDER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

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
    # auto, buildx or classic: the local engine; else names of buildx builders (BuildKit nodes).
    "builder": "auto",
    "cache": "none",  # registry: cache per image and platform in the registry (buildcache-*)
    # BuildKit's SBOM scanner on nodes: a fleet image's name or an image reference; "" is none.
    "sbom_generator": "sbom-scanner",
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
    # What `invoke verify` requires of a pushed image: provenance and sbom (an attestation for
    # every platform manifest), platforms (every platform the image's manifest lists).
    "require": [],
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
    # Named buildx builders whose nodes build the fleet (empty: the local engine).
    builders: tuple[str, ...] = ()
    cache: Cache = DEFAULTS["cache"]
    sbom_generator: str = DEFAULTS["sbom_generator"]
    source_url: str | None = None
    push_attempts: int = DEFAULTS["push"]["attempts"]
    push_max_wait: float = DEFAULTS["push"]["max_wait"]
    notify_urls: tuple[str, ...] = ()
    local_registry_port: int = DEFAULTS["local_registry"]["port"]
    local_registry_dir: Path = field(default=Path(DEFAULTS["local_registry"]["state_dir"]))
    helm: HelmSettings = field(default_factory=HelmSettings)
    require: tuple[str, ...] = ()

    @property
    def locks_dir(self) -> Path:
        """Where per-image lock files of this checkout live: beside the content cache, never in
        the tree (a refused run leaves nothing there, not even a lock file)."""
        return self.content_cache.parent / f"locks-{self.content_cache.stem.rsplit('-', 1)[1]}"

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
    def from_config(
        cls, config: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from the ``fleet`` section of the Invoke config (a mapping), checked
        once: a bad value is a :class:`~imagefleet.errors.UsageError` naming the setting, and
        where it came from (``environ``: the process environment, to name ``INVOKE_FLEET_*``).
        Settings checked before (the same values, the same root) are not checked again (see
        :mod:`imagefleet.checked`)."""
        given = plain(config)
        if given is None:  # an empty `fleet:` key
            given = {}
        same = _checked_as(given)
        known = checked.records().get("settings", same, cls) if same is not None else None
        if known is not None:
            return known
        made = cls._check(given, environ)
        if same is not None:
            checked.records().put("settings", same, made)
        return made

    @classmethod
    def _check(cls, given: Any, environ: Mapping[str, str] | None) -> Settings:
        from . import config as schema  # pydantic: only for settings not checked before

        if not isinstance(given, Mapping):
            raise InvalidSettingError(
                setting=schema.PREFIX,
                value=schema.shown(given),
                source=schema.CONFIG_FILE,
                reason="not a mapping",
                expected="a mapping of settings (registry, platforms, push, …)",
            )
        fleet = schema.validate(schema.merged(DEFAULTS, given), environ)

        def where(*path: str) -> str:
            return schema.source(path, environ)

        root = root_directory(fleet.root)
        local, named = split_builders(fleet.builder, source=where("builder"))
        helm = fleet.helm
        if helm.deploy_image:
            _check(("helm", "deploy_image"), helm.deploy_image, environ, parse_reference)
        state_dir = Path(fleet.local_registry.state_dir)
        return cls(
            root=root,
            images_dir=_inside(root, ("images_dir",), fleet.images_dir, environ),
            target=_registry(("registry",), fleet.registry, environ),
            aliases=tuple(
                _registry(("registry_aliases",), a, environ) for a in fleet.registry_aliases
            ),
            global_paths=tuple(fleet.global_paths),
            default_branch=fleet.default_branch,
            platforms=_platforms(fleet.platforms, environ),
            builder=local,
            builders=named,
            cache=fleet.cache,
            sbom_generator=_sbom_generator(fleet.sbom_generator.strip(), environ),
            source_url=fleet.source_url,
            push_attempts=fleet.push.attempts,
            push_max_wait=fleet.push.max_wait,
            notify_urls=tuple(fleet.notify.urls),
            local_registry_port=fleet.local_registry.port,
            # An absolute state directory is taken as written (e.g. a volume outside the tree).
            local_registry_dir=state_dir
            if state_dir.is_absolute()
            else _inside(root, ("local_registry", "state_dir"), str(state_dir), environ),
            helm=HelmSettings(
                binary=helm.binary,
                image_repository_key=helm.image_keys.repository,
                image_tag_key=helm.image_keys.tag,
                timeout=helm.timeout,
                history_max=helm.history_max,
                lock_wait=helm.lock_wait,
                kubernetes_version=helm.kubernetes_version,
                deploy_image=helm.deploy_image,
            ),
            require=tuple(dict.fromkeys(fleet.require)),
        )


def root_directory(root: str | None) -> Path:
    """The project root a ``fleet.root`` value names, resolved: the working directory when it is
    unset. The settings, their checked record and a build's early questions all name it so."""
    return Path(root or Path.cwd()).resolve()


def plain(value: Any) -> Any:
    """Invoke's config proxies (and any mapping) as plain dicts, all the way down."""
    if hasattr(value, "keys") and callable(value.keys):
        return {str(k): plain(value[k]) for k in value.keys()}  # noqa: SIM118 - proxies are no Mapping
    return value


def _checked_as(given: object) -> bytes | None:
    """What settings made from ``given`` depend on: its values, and the directory the root
    resolves to (the working directory when it is unset); ``None`` when that cannot be said."""
    root = given.get("root") if isinstance(given, Mapping) else None
    if not isinstance(given, Mapping) or not isinstance(root, str | None):
        return None
    try:
        return json.dumps([given, str(root_directory(root))], sort_keys=True).encode()
    except (TypeError, ValueError, OSError):  # not JSON (a YAML date …), or no such directory
        return None


def split_builders(
    values: list[str] | tuple[str, ...], *, source: str
) -> tuple[Builder, tuple[str, ...]]:
    """``fleet.builder`` (or ``--builder``) values -> (how the local engine is driven, named
    buildx builders). One local mode, or builder names; never both."""
    names = tuple(dict.fromkeys(v.strip() for v in values if v.strip()))
    local = [n for n in names if n in LOCAL_BUILDERS]
    named = tuple(n for n in names if n not in LOCAL_BUILDERS)
    shown = ", ".join(names)
    if not names:
        return "auto", ()
    if local and (named or len(local) > 1):
        raise InvalidBuilderError(builder=shown, source=source)
    for name in named:
        if not _BUILDER_NAME_RE.match(name):
            raise InvalidBuilderError(builder=name, source=source)
    if local:
        return local[0], ()
    return "auto", named


def _check(
    path: tuple[str, ...],
    value: str,
    environ: Mapping[str, str] | None,
    parse: Callable[[str], object],
) -> None:
    """Run ``parse`` on a setting's value; its usage error becomes one that names the setting."""
    from . import config as schema

    try:
        parse(value)
    except UsageError as exc:
        raise InvalidSettingError(
            setting=schema.setting_name(path),
            value=schema.shown(value),
            source=schema.source(path, environ),
            reason=exc.message,
            expected=f"{schema.expected(path)}; {exc.hint}",
        ) from None


def _registry(path: tuple[str, ...], value: str, environ: Mapping[str, str] | None) -> Target:
    from . import config as schema

    try:
        return parse_target(value)
    except InvalidReferenceError as exc:
        prefix = f"invalid registry {value.strip().rstrip('/')!r}"
        reason = exc.message.removeprefix(prefix).removeprefix(": ") or "not HOST[:PORT]/NAMESPACE"
        raise InvalidRegistrySettingError(
            setting=schema.setting_name(path),
            value=schema.shown(value),
            source=schema.source(path, environ),
            reason=reason,
        ) from None


def _sbom_generator(value: str, environ: Mapping[str, str] | None) -> str:
    """A fleet image's name (checked against the catalog when a build uses it) or an image
    reference, checked now; empty turns SBOM attestations off."""
    if value and any(c in value for c in "/:@"):
        _check(("sbom_generator",), value, environ, parse_reference)
    return value


def _platforms(values: list[str], environ: Mapping[str, str] | None) -> tuple[str, ...]:
    if not values:  # the common case: no need to load the build planner
        return ()
    from .plan import parse_platforms

    for value in values:
        _check(("platforms",), value, environ, lambda v: parse_platforms([v]))
    return parse_platforms(values)


def _inside(
    root: Path, path: tuple[str, ...], value: str, environ: Mapping[str, str] | None
) -> Path:
    """``root / value``, refused when it leads out of the repository."""
    from . import config as schema

    # Lexically: a symlinked images/ may point anywhere, but ../ may not lead out of the tree.
    resolved = Path(os.path.normpath(root / value))
    if resolved != root and root not in resolved.parents:
        raise InvalidSettingError(
            setting=schema.setting_name(path),
            value=schema.shown(value),
            source=schema.source(path, environ),
            reason=f"{resolved} is outside the repository {root}",
            expected=schema.expected(path),
        )
    # Keep the path as written below the root (a symlinked images/ stays what it is).
    return root / value
