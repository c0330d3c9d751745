"""The schema of the ``fleet:`` settings (pydantic, as manifests are): types, ranges, unknown keys,
and errors that name the setting and where its value came from (``invoke.yaml`` or the
``INVOKE_FLEET_*`` variable). Loaded when a task starts, never by ``invoke --list``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import InvalidSettingError, UnknownSettingError, UnknownSettingNoMatchError

PREFIX = "fleet"
ENV_PREFIX = "INVOKE_"
CONFIG_FILE = "invoke.yaml"


def _listed(value: object) -> object:
    # Invoke hands an environment variable over as one string: a list setting takes it
    # comma-separated; an empty YAML key (None) is an empty list.
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _no_bool(value: object) -> object:
    # YAML reads `yes`/`true` as a boolean, which pydantic would take as 1.
    if isinstance(value, bool):
        raise ValueError("a number, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
    return value


def _empty_if_none(value: object) -> object:
    return "" if value is None else value


Whole = Annotated[int, BeforeValidator(_no_bool)]
Number = Annotated[float, BeforeValidator(_no_bool)]
Texts = Annotated[list[str], BeforeValidator(_listed)]
OptionalText = Annotated[str, BeforeValidator(_empty_if_none)]
# What `invoke verify` can require of a pushed image (verification.REQUIREMENTS).
Requirements = Annotated[list[Literal["provenance", "sbom", "platforms"]], BeforeValidator(_listed)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PushConfig(_Section):
    """``fleet.push``: retries of transient registry failures."""

    attempts: Whole = Field(ge=1, description="a whole number, 1 or more")
    max_wait: Number = Field(gt=0, description="a number of seconds, more than 0")


class NotifyConfig(_Section):
    """``fleet.notify``: where pushes are announced."""

    urls: Texts = Field(description="a list of apprise URLs (comma-separated in the environment)")


class LocalRegistryConfig(_Section):
    """``fleet.local_registry``: the throwaway registry of ``registry.start``."""

    port: Whole = Field(ge=1, le=65535, description="a TCP port, 1 to 65535")
    state_dir: str = Field(
        min_length=1, description="a directory: relative ones must stay inside the repository"
    )


class ImageKeysConfig(_Section):
    """``fleet.helm.image_keys``: where ``--image``/``--tag`` land in a chart's values."""

    repository: str = Field(min_length=1, description="a values key such as image.repository")
    tag: str = Field(min_length=1, description="a values key such as image.tag")


class HelmConfig(_Section):
    """``fleet.helm``: defaults of ``helm-deploy``."""

    binary: str = Field(min_length=1, description="the helm executable, e.g. helm or helm3")
    image_keys: ImageKeysConfig = Field(description="a mapping with repository and tag keys")
    timeout: str = Field(min_length=1, description="a Go duration such as 90s or 5m")
    history_max: Whole = Field(ge=0, description="a whole number, 0 or more")
    lock_wait: Number = Field(ge=0, description="a number of seconds, 0 or more")
    kubernetes_version: OptionalText = Field(description="a version such as 1.31.0, or empty")
    deploy_image: OptionalText = Field(description="an image reference, or empty")


class FleetConfig(_Section):
    """Everything under ``fleet:`` once the defaults are merged in."""

    root: str | None = Field(description="the project root (tasks.py sets it)")
    images_dir: str = Field(min_length=1, description="a directory inside the repository")
    registry: str = Field(description="HOST[:PORT]/NAMESPACE, e.g. docker.io/webgrip")
    registry_aliases: Texts = Field(
        description="a list of HOST[:PORT]/NAMESPACE (comma-separated in the environment)"
    )
    global_paths: Texts = Field(
        description="a list of globs from the root (comma-separated in the environment)"
    )
    default_branch: str = Field(min_length=1, description="a branch name, e.g. main")
    platforms: Texts = Field(
        description="a list of os/arch[/variant] (comma-separated in the environment)"
    )
    builder: Texts = Field(
        description="auto, buildx or classic (the local engine), or the names of buildx "
        "builders (a list; comma-separated in the environment)"
    )
    cache: Literal["none", "registry"] = Field(description="none or registry")
    sbom_generator: str = Field(
        description="a fleet image's name, an image reference, or empty (no SBOM attestations)"
    )
    source_url: str | None = Field(description="a URL, or nothing (the git remote origin)")
    push: PushConfig = Field(description="a mapping with attempts and max_wait")
    notify: NotifyConfig = Field(description="a mapping with urls")
    local_registry: LocalRegistryConfig = Field(description="a mapping with port and state_dir")
    helm: HelmConfig = Field(description="a mapping of helm-deploy defaults")
    require: Requirements = Field(
        description="a list of provenance, sbom and platforms (comma-separated in the "
        "environment): what `invoke verify` requires of a pushed image"
    )


def setting_name(path: tuple[str, ...]) -> str:
    """``("push", "attempts")`` -> ``fleet.push.attempts``."""
    return ".".join((PREFIX, *path))


def source(path: tuple[str, ...], environ: Mapping[str, str] | None) -> str:
    """Where the value of a setting came from: its ``INVOKE_FLEET_*`` variable when that is set
    (the environment wins over the config files), else ``invoke.yaml``."""
    variable = ENV_PREFIX + "_".join((PREFIX, *path)).upper()
    if environ is not None and variable in environ:
        return f"${variable}"
    return CONFIG_FILE


def shown(value: object, limit: int = 60) -> str:
    """A value as an error quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def merged(defaults: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` over ``defaults``, section by section; an empty section keeps its defaults."""
    out = dict(defaults)
    for key, value in config.items():
        default = defaults.get(key)
        if isinstance(default, Mapping) and value is None:
            continue
        if isinstance(default, Mapping) and isinstance(value, Mapping):
            out[key] = merged(default, value)
        else:
            out[key] = value
    return out


def validate(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> FleetConfig:
    """The ``fleet:`` section (defaults merged in) checked against :class:`FleetConfig`."""
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, environ) from None


def _error(exc: ValidationError, environ: Mapping[str, str] | None) -> Exception:
    first = exc.errors()[0]
    path = tuple(str(p) for p in first["loc"] if isinstance(p, str))
    setting = setting_name(path)
    if first["type"] == "extra_forbidden":
        fields = _section(path[:-1]).model_fields
        close = difflib.get_close_matches(path[-1], fields, n=1)
        if close:
            return UnknownSettingError(
                setting=setting, source=CONFIG_FILE, close=setting_name((*path[:-1], close[0]))
            )
        return UnknownSettingNoMatchError(
            setting=setting, source=CONFIG_FILE, choices=", ".join(fields)
        )
    return InvalidSettingError(
        setting=setting,
        value=shown(first["input"]),
        source=source(path, environ),
        reason=_reason(first["type"], first["msg"], first.get("ctx") or {}),
        expected=expected(path),
    )


def _section(path: tuple[str, ...]) -> type[BaseModel]:
    model: type[BaseModel] = FleetConfig
    for part in path:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model


def expected(path: tuple[str, ...]) -> str:
    """What a setting takes, as its field's description says."""
    field = _section(path[:-1]).model_fields.get(path[-1]) if path else None
    return (field.description if field else None) or "a valid value"


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}
_REASONS = {
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "int_type": "not a whole number",
    "float_parsing": "not a number",
    "float_type": "not a number",
    "string_type": "not text",
    "string_too_short": "must not be empty",
    "list_type": "not a list",
    "model_type": "not a mapping",
    "model_attributes_type": "not a mapping",
    "dict_type": "not a mapping",
    "missing": "missing",
    "literal_error": "not one of the allowed values",
}


def _reason(kind: str, message: str, ctx: Mapping[str, Any]) -> str:
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx[key]:g}"
    return _REASONS.get(kind) or message.removeprefix("Value error, ")
