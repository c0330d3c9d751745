"""The Docker SDK, imported on first use (it is slow to import and most tasks never need it), its
exceptions said in one line, and the cut of a classic build's connection on a signal."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import signals
from .errors import DaemonUnreachableError, last_line

if TYPE_CHECKING:
    import docker
    import requests


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


# The build requests of the thread in a cut_on_stop block (None elsewhere).
_requests_here = threading.local()


def _remember(response: requests.Response, *_: Any, **__: Any) -> None:
    found: list[requests.Response] | None = getattr(_requests_here, "responses", None)
    if found is not None:
        found.append(response)


@contextlib.contextmanager
def cut_on_stop(api: Any) -> Iterator[None]:
    """On SIGINT or SIGTERM, shut the connection of this thread's classic build down: the
    daemon runs that build, not a child of ours, and drops it (nothing tagged) when its
    connection closes; a shutdown also wakes the worker thread blocked reading it."""
    if _remember not in api.hooks["response"]:
        api.hooks["response"].append(_remember)  # every request of this client, filtered above
    responses: list[requests.Response] = []
    _requests_here.responses = responses

    def cut() -> None:
        for response in responses:
            sock = getattr(getattr(response.raw, "connection", None), "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    try:
        with signals.on_stop(cut):
            yield
    finally:
        _requests_here.responses = None
