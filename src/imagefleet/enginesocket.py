"""Read-only Engine API questions over the daemon's UNIX socket, with the standard library.

Every ``invoke build`` asks the daemon a few questions before its bake can start: is it there,
which images carry content keys, which of the run's tags exist. Through the Docker SDK each run
would first import it (requests, urllib3 and their charset detection: about 60 ms here, several
times what the questions cost), and that import sat between the command and BuildKit on every
build, cold or up to date. These ``GET`` requests go to the socket directly instead; whatever
changes the daemon (tag, pull, push, remove, containers, classic builds) and every other
``DOCKER_HOST`` (TCP, TLS, SSH) still goes through the SDK, imported when first needed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from . import early

DEFAULT_SOCKET = "/var/run/docker.sock"


class EngineSocketError(Exception):
    """The daemon answered a request with an error status (``status``), or not at all (0: no
    socket, refused, reset, timed out; the message names the socket)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def socket_path(environ: Mapping[str, str] = os.environ) -> str | None:
    """The daemon's UNIX socket from ``DOCKER_HOST`` (the default one when it is unset), or
    ``None`` when the daemon is elsewhere (TCP, SSH) or TLS is asked for: then only the SDK."""
    if environ.get("DOCKER_TLS_VERIFY"):
        return None
    host = environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    scheme, sep, path = host.partition("://")
    return path if sep and scheme == "unix" and path else None


class EngineSocket:
    """``GET`` requests to the Engine API at ``path``; one short connection each."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._listed: list[dict[str, Any]] | None = None
        self._changed = False

    def get(self, endpoint: str, query: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON answer to ``GET endpoint?query``; :class:`EngineSocketError` when the
        daemon does not answer or answers with an error."""
        body = self._request(endpoint, query)
        return json.loads(body) if body else None

    def ping(self) -> None:
        """Raise :class:`EngineSocketError` unless the daemon answers."""
        self._request("/_ping")

    def _request(self, endpoint: str, query: Mapping[str, str] | None = None) -> bytes:
        connection = _UnixConnection(self.path, self.timeout)
        try:
            connection.request("GET", endpoint + (f"?{urlencode(query)}" if query else ""))
            response = connection.getresponse()
            body = response.read()
        except OSError as exc:  # no socket, refused, reset, timed out
            raise EngineSocketError(0, f"{self.path}: {exc.strerror or exc}") from exc
        except http.client.HTTPException as exc:
            raise EngineSocketError(0, f"{self.path}: {type(exc).__name__} {exc}") from exc
        finally:
            connection.close()
        if response.status >= 400:
            try:
                message = str(json.loads(body).get("message", ""))
            except (ValueError, AttributeError):
                message = body.decode(errors="replace").strip()
            raise EngineSocketError(response.status, message or response.reason)
        return body

    def images(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        """``docker image ls`` rows (``Id``, ``RepoTags``, ``Labels``, ``Created`` …) that match
        every filter (``label``, ``reference`` …; several values of one filter: any)."""
        rows: list[dict[str, Any]] = self.get(
            "/images/json", {"filters": json.dumps({k: list(v) for k, v in filters.items()})}
        )
        return rows

    def listed(self) -> list[dict[str, Any]] | None:
        """Every local image, as :func:`ask_images` listed them when the run began, until
        :meth:`changed` is called; ``None`` when they were not asked for (or no longer hold)."""
        if not self._changed and self._listed is None:
            self._listed = early.take(("images", self.path), lambda: None)
        return None if self._changed else self._listed

    def changed(self) -> None:
        """The caller is about to change images (tag, pull, remove, build): the listing taken
        when the run began no longer answers."""
        self._changed = True

    def image_id(self, ref: str) -> str | None:
        """The ID of the local image ``ref``, or ``None`` if there is none."""
        try:
            found: dict[str, Any] = self.get(f"/images/{quote(ref, safe='/:')}/json")
        except EngineSocketError as exc:
            if exc.status == 404:
                return None
            raise
        return str(found["Id"])


def ask_images(environ: Mapping[str, str] = os.environ) -> None:
    """List every local image early, in a thread (see :mod:`imagefleet.early`): the daemon's
    first two answers to a build (which images carry content keys, which of its tags exist) are
    then read from one listing, taken while the tool imports. Only on a UNIX socket."""
    path = socket_path(environ)
    if path is not None:
        early.ask(("images", path), lambda: EngineSocket(path, timeout=30.0).images({}))
