"""Build secrets: the ``secrets:`` of ``image.yml`` (BuildKit secrets read from an environment
variable at build time), the ``--secret`` specs a build passes, and the checks made before it.

A secret's value never leaves the environment of the ``docker buildx`` process: the tool passes
``id=…,env=…`` and BuildKit mounts the value at ``/run/secrets/<id>`` for the ``RUN`` steps that
ask for it. Ids and variable names may be shown (and reach the content key with ``image.yml``,
a file of the build context); values never are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SecretsNeedBuildKitError, SecretUnsetError

if TYPE_CHECKING:
    from .plan import ImagePlan

# BuildKit takes any id, but the tool writes it into `id=<id>,env=<VAR>` (a CSV field) and the
# Dockerfile names it in `--mount=type=secret,id=<id>`: no commas, equals signs or spaces.
SECRET_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Secret:
    """One build secret of ``image.yml``: the variable its value is read from at build time
    (checked by :mod:`imagefleet.schema`)."""

    env: str
    optional: bool = False  # unset: the build goes on without it (no file is mounted)


def is_set(secret: Secret, environ: Mapping[str, str]) -> bool:
    """Whether the secret's variable holds a value (an empty one counts as unset: BuildKit would
    mount an empty file, which no step means to read)."""
    return bool(environ.get(secret.env))


def specs(secrets: Mapping[str, Secret], environ: Mapping[str, str]) -> tuple[str, ...]:
    """The ``--secret`` specs (``id=…,env=…``) of a build, sorted by id; an optional secret whose
    variable is unset is left out, so its mount is missing rather than empty."""
    return tuple(
        f"id={name},env={secret.env}"
        for name, secret in sorted(secrets.items())
        if is_set(secret, environ)
    )


def require(plans: Iterable[ImagePlan], environ: Mapping[str, str]) -> None:
    """Refuse (exit 3) before any build when a required secret's variable is unset, naming every
    such variable and the images and secret ids that read it."""
    missing: dict[str, list[str]] = {}
    for plan in plans:
        for name, secret in sorted(plan.image.manifest.secrets.items()):
            if not secret.optional and not is_set(secret, environ):
                missing.setdefault(secret.env, []).append(f"{plan.name}: {name}")
    if missing:
        raise SecretUnsetError(
            variables=", ".join(f"{env} ({'; '.join(used)})" for env, used in missing.items()),
        )


def require_buildkit(plans: Iterable[ImagePlan], *, buildkit: bool) -> None:
    """Refuse (exit 3) before any build when an image with secrets would go to the classic
    builder, which has no secret mounts."""
    if buildkit:
        return
    using = [p.name for p in plans if p.image.manifest.secrets]
    if using:
        raise SecretsNeedBuildKitError(images=", ".join(using))
