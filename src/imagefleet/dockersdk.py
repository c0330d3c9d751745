"""The Docker SDK, imported on first use (it is slow to import and most tasks never need it), and
its exceptions said in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import signals
from .errors import DaemonUnreachableError, last_line

if TYPE_CHECKING:
    import docker


def sdk() -> Any:
    """The Docker SDK, imported on first use: it is slow to import and most tasks never need it.
    A signal waits for the import to finish (:func:`signals.deferred`): cut short, the package
    would stay half imported, and the cleanup after the signal uses it."""
    with signals.deferred():
        import docker
        import docker.auth
        import docker.errors

    return docker


def client(timeout: int) -> docker.DockerClient:
    """The SDK's client for the environment's daemon (``DOCKER_HOST`` …). It asks the daemon for
    its API version, so one that does not answer fails here, said in one line."""
    try:
        made: docker.DockerClient = sdk().from_env(timeout=timeout)
    except (sdk().errors.DockerException, transport_error()) as exc:
        raise DaemonUnreachableError(reason=short(exc)) from exc
    return made


def transport_error() -> type[Exception]:
    """The exception the SDK's HTTP layer (requests) raises for a broken or refused
    connection, imported with it."""
    import requests

    return requests.exceptions.RequestException


def short(exc: BaseException) -> str:
    """What a Docker SDK or requests exception says, in one line short enough for an error."""
    return last_line(str(exc), type(exc).__name__, limit=300)
