"""The pydantic schema of ``image.yml``: what a manifest may say, checked once per content.

The records a manifest becomes (:class:`~imagefleet.catalog.Manifest` and the records in it) are
plain frozen dataclasses; this module checks a manifest's data and makes them. It is imported
only when a manifest was not checked before (see :mod:`imagefleet.checked`): pydantic and these
models take about 70 ms to load, on every command that reads the catalog.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .catalog import (
    ARG_NAME_RE,
    CONTEXT_NAME_RE,
    EXECUTABLE_RE,
    PLATFORM_RE,
    SEMVER_RE,
    Link,
    LocalContext,
    Manifest,
)
from .reference import PATH_COMPONENT_RE, TAG_RE
from .secrets import ENV_NAME_RE, SECRET_ID_RE, Secret

__all__ = ["ValidationError", "manifest"]


def _matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    """A check that a text matches ``pattern``; a mismatch says ``<expected>, got '<value>'``."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{expected}, got {value!r}")
        return value

    return AfterValidator(check)


def _extra_tag(value: str) -> str:
    if value == "latest":
        raise ValueError("'latest' is managed by the tag policy, not listed as an extra tag")
    if not TAG_RE.match(value):
        raise ValueError(
            f"invalid tag {value!r}: 1-128 letters, digits, '_', '.', '-', not starting with . or -"
        )
    return value


def _arg_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a string (quote it), got {value!r}")  # noqa: TRY004 - pydantic wants ValueError
    return str(value)


def _not_scratch(value: str) -> str:
    if value == "scratch":
        raise ValueError(f"a context name such as tools (lower-case, not scratch), got {value!r}")
    return value


Platform = Annotated[
    str, _matching(PLATFORM_RE, "a platform such as linux/amd64 or linux/arm64/v8")
]
ExtraTag = Annotated[str, AfterValidator(_extra_tag)]
ArgName = Annotated[str, _matching(ARG_NAME_RE, "build arg names are identifiers")]
ArgValue = Annotated[str, BeforeValidator(_arg_value)]
ContextName = Annotated[
    str,
    _matching(CONTEXT_NAME_RE, "a context name such as tools (lower-case, not scratch)"),
    AfterValidator(_not_scratch),
]
Executable = Annotated[str, _matching(EXECUTABLE_RE, "an executable's file name (no path)")]
SecretId = Annotated[
    str,
    _matching(
        SECRET_ID_RE, "a secret id is letters, digits, '_', '.', '-' (not starting with . or -)"
    ),
]
EnvName = Annotated[str, _matching(ENV_NAME_RE, "an environment variable name such as NPM_TOKEN")]


class LinkModel(BaseModel):
    """A documentation link shown on the image's page and in Backstage."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(pattern=r"^https?://")
    title: str


class LocalContextModel(BaseModel):
    """A named build context the tool stages from the host (``COPY --from=<name>`` reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # executable name (looked up on PATH) -> the package that provides it, named in errors
    executables: dict[Executable, Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class ManifestModel(BaseModel):
    """The schema of ``images/<name>/image.yml``; every field is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    description: str = ""
    owner: str | None = None
    lifecycle: Literal["experimental", "production", "deprecated"] = "production"
    version: str | None = None
    platforms: tuple[Platform, ...] = ()
    build_args: dict[ArgName, ArgValue] = Field(default_factory=dict)
    tags: tuple[ExtraTag, ...] = ()
    docs: tuple[LinkModel, ...] = ()
    runs_as_root: str | None = None  # why this image must run as root (the policy asks)
    contexts: dict[ContextName, LocalContextModel] = Field(default_factory=dict)
    # BuildKit secrets the build may mount: id -> the variable its value is read from.
    secrets: dict[SecretId, SecretModel] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not PATH_COMPONENT_RE.match(value):
            raise ValueError("lower-case letters and digits separated by '.', '_' or '-'")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str) or not SEMVER_RE.match(value):
            raise ValueError(f"a semantic version such as 1.2.3 (a quoted string), got {value!r}")
        return value


class SecretModel(BaseModel):
    """One build secret of ``image.yml``: the variable its value is read from at build time."""

    # Strict: `optional: "yes"` or `env: 1` is a mistake to refuse, not a value to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    env: EnvName
    optional: bool = False  # unset: the build goes on without it (no file is mounted)


def manifest(data: dict[str, Any]) -> Manifest:
    """The record of a manifest's ``data`` (its YAML mapping), checked; raises pydantic's
    :class:`ValidationError`."""
    checked = ManifestModel.model_validate(data)
    return Manifest(
        name=checked.name,
        description=checked.description,
        owner=checked.owner,
        lifecycle=checked.lifecycle,
        version=checked.version,
        platforms=checked.platforms,
        build_args=dict(checked.build_args),
        tags=checked.tags,
        docs=tuple(Link(url=d.url, title=d.title) for d in checked.docs),
        runs_as_root=checked.runs_as_root,
        contexts={
            name: LocalContext(executables=dict(c.executables))
            for name, c in checked.contexts.items()
        },
        secrets={
            name: Secret(env=s.env, optional=s.optional) for name, s in checked.secrets.items()
        },
    )
