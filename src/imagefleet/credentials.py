"""Registry credentials: ``FLEET_REGISTRY_USERNAME``/``FLEET_REGISTRY_PASSWORD`` or Docker's
config and credential helpers, never arguments; the secret is never logged nor shown."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

LOGGER = logging.getLogger(__name__)

USERNAME_ENV = "FLEET_REGISTRY_USERNAME"
PASSWORD_ENV = "FLEET_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a secret


@dataclass(frozen=True)
class Credentials:
    """A username and a secret; the secret never appears in ``repr``."""

    username: str
    password: str = field(repr=False)

    def docker_auth(self) -> dict[str, str]:
        """The ``auth_config`` the Docker SDK expects."""
        return {"username": self.username, "password": self.password}


def stored_credentials(domain: str) -> dict[str, str] | None:
    """What ``docker login`` stored for ``domain`` (config file or credential helper), if any."""
    from docker import auth  # the Docker CLI's own config and credential-helper reader

    found = auth.load_config().resolve_authconfig(domain)
    if not found:
        return None
    return {k: str(v) for k, v in found.items() if isinstance(v, str)}


def credentials_for(domain: str) -> Credentials | None:
    """Environment variables first, then Docker's config and credential helpers."""
    user, secret = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if user and secret:
        return Credentials(user, secret)
    try:
        found = stored_credentials(domain)
    except Exception as exc:
        LOGGER.warning("could not read Docker credentials for %s: %s", domain, type(exc).__name__)
        return None
    if not found:
        return None
    # Config-file entries use lower-case keys; credential helpers' answers are capitalised.
    fields = {k.lower(): v for k, v in found.items()}
    if fields.get("username") and fields.get("password"):
        return Credentials(fields["username"], fields["password"])
    if fields.get("identitytoken"):
        return Credentials("<token>", fields["identitytoken"])
    return None
