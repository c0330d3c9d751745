"""Push with retries for transient failures, then read every tag back from the registry.

The sha tags (the only immutable ones) go first; ``latest`` moves last and only once every other
tag of the push has been read back over the registry's HTTP API and found pointing at the local
image. Credentials come from :mod:`imagefleet.credentials`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .credentials import Credentials, credentials_for
from .engine import Engine
from .errors import (
    AuthChallengeError,
    AuthRefusedError,
    AuthRequiredError,
    FleetError,
    PushReadOnlyError,
    RegistryAuthError,
    RegistryHostUnknownError,
    RegistryNoSpaceError,
    RegistryRefusedError,
    RegistryServerError,
    RegistryTimeoutError,
    RegistryUnreachableError,
    TagDigestMismatchError,
    TagMissingAfterPushError,
    TransientRegistryError,
    UnexpectedRegistryAnswerError,
    require_built,
)
from .pusherrors import unresolved
from .readback import check_index, verify_tag
from .reference import DOCKER_HUB, Target, canonical_path
from .tags import LATEST, TagSet

LOGGER = logging.getLogger(__name__)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_HUB_API = "registry-1.docker.io"
T = TypeVar("T")
_TIMEOUT = 30


def is_loopback(domain: str) -> bool:
    """Docker treats loopback registries as plain HTTP; so do we."""
    host = domain.rsplit(":", 1)[0] if not domain.endswith("]") else domain
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RemoteManifest:
    """A tag as the registry sees it."""

    digest: str
    media_type: str
    config_digest: str | None


class RegistryClient:
    """Just enough of the distribution API to read tags back: ping and manifest HEAD/GET."""

    def __init__(
        self,
        domain: str,
        credentials: Credentials | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.domain = domain
        api_host = _HUB_API if domain == DOCKER_HUB else domain
        self.base = f"{'http' if is_loopback(domain) else 'https'}://{api_host}"
        self.credentials = credentials
        self.session = session or requests.Session()
        self._tokens: dict[str, str] = {}

    def _token(self, challenge: str, scope: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise AuthChallengeError(domain=self.domain)
        params["scope"] = scope
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        response = self.session.get(realm, params=params, auth=auth, timeout=_TIMEOUT)
        if response.status_code in (401, 403):
            raise _auth_error(self.domain, self.credentials)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return str(body.get("token") or body.get("access_token") or "")

    def _get(
        self,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        data: bytes | None = None,
    ) -> requests.Response:
        url = f"{self.base}{path}"
        headers = dict(headers or {})
        send = partial(self.session.request, method, url, data=data, timeout=_TIMEOUT)
        try:
            if scope in self._tokens:
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            response = send(headers=headers)
            if response.status_code == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                if challenge.lower().startswith("bearer"):
                    self._tokens[scope] = self._token(challenge, scope)
                    headers["Authorization"] = f"Bearer {self._tokens[scope]}"
                    response = send(headers=headers)
                elif self.credentials:
                    response = send(
                        headers=headers,
                        auth=(self.credentials.username, self.credentials.password),
                    )
        except requests.exceptions.ConnectionError as exc:
            if unresolved(exc):
                raise RegistryHostUnknownError(domain=self.domain) from exc
            raise RegistryRefusedError(domain=self.domain) from exc
        except requests.exceptions.Timeout as exc:
            raise RegistryTimeoutError(domain=self.domain) from exc
        if response.status_code in (401, 403):
            raise _auth_error(self.domain, self.credentials)
        if response.status_code == 507:  # a full registry stays full for longer than a retry
            raise RegistryNoSpaceError(domain=self.domain, status=507, path=path)
        if response.status_code >= 500:
            raise RegistryServerError(domain=self.domain, status=response.status_code, path=path)
        return response

    def ping(self) -> None:
        """Raise :class:`TransientRegistryError` when the registry does not answer at all."""
        # An auth challenge is an answer: the registry is reachable; push presents credentials.
        with contextlib.suppress(RegistryAuthError):
            self._get("/v2/", scope="registry:catalog:*")

    def _manifest_response(self, path: str, reference: str) -> requests.Response | None:
        """``GET`` of the manifest ``path:reference``; ``None`` when it does not exist."""
        response = self._get(
            f"/v2/{path}/manifests/{reference}",
            scope=f"repository:{path}:pull",
            headers={"Accept": MANIFEST_TYPES},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UnexpectedRegistryAnswerError(
                domain=self.domain, status=response.status_code, path=path, reference=reference
            )
        return response

    def manifest(self, path: str, reference: str) -> RemoteManifest | None:
        """The manifest ``path:reference`` (tag or digest), or ``None`` if it does not exist."""
        response = self._manifest_response(path, reference)
        if response is None:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        body: dict[str, Any] = response.json()
        if not digest:
            digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        config = body.get("config") or {}
        return RemoteManifest(
            digest=digest,
            media_type=str(body.get("mediaType") or response.headers.get("Content-Type", "")),
            config_digest=config.get("digest"),
        )

    def manifest_bytes(self, path: str, reference: str) -> tuple[bytes, str] | None:
        """The manifest ``path:reference`` exactly as stored (body, media type), or ``None``."""
        response = self._manifest_response(path, reference)
        if response is None:
            return None
        return response.content, response.headers.get("Content-Type", "")

    def blob_json(self, path: str, digest: str) -> dict[str, Any]:
        """The JSON blob ``path@digest`` (an image config)."""
        response = self._get(f"/v2/{path}/blobs/{digest}", scope=f"repository:{path}:pull")
        if response.status_code != 200:
            raise UnexpectedRegistryAnswerError(
                domain=self.domain, status=response.status_code, path=path, reference=digest
            )
        body: dict[str, Any] = response.json()
        return body

    def upload_refusal(self, path: str) -> int | None:
        """Start a blob upload to ``path`` and cancel it: the status when the registry refuses
        uploads (405 when read-only), ``None`` when it accepts them."""
        scope = f"repository:{path}:pull,push"
        response = self._get(f"/v2/{path}/blobs/uploads/", scope=scope, method="POST")
        if response.status_code != 202:
            return response.status_code
        if location := response.headers.get("Location"):
            where = urlsplit(location)
            with contextlib.suppress(FleetError, requests.exceptions.RequestException):
                query = f"?{where.query}" if where.query else ""
                self._get(where.path + query, scope=scope, method="DELETE")
        return None

    def put_manifest(self, path: str, tag: str, body: bytes, media_type: str) -> None:
        """Point ``path:tag`` at a manifest the registry already holds the blobs of: a tag made
        in the registry itself, nothing uploaded."""
        response = self._get(
            f"/v2/{path}/manifests/{tag}",
            scope=f"repository:{path}:pull,push",
            headers={"Content-Type": media_type},
            method="PUT",
            data=body,
        )
        if response.status_code not in (200, 201):
            raise UnexpectedRegistryAnswerError(
                domain=self.domain, status=response.status_code, path=path, reference=tag
            )


def _auth_error(domain: str, credentials: Credentials | None) -> RegistryAuthError:
    if credentials:
        return AuthRefusedError(domain=domain, username=credentials.username)
    return AuthRequiredError(domain=domain)


@dataclass(frozen=True)
class PushedTag:
    """One verified tag."""

    reference: str
    digest: str
    seconds: float


def _retrying(attempts: int, max_wait: float) -> Retrying:
    return Retrying(
        retry=retry_if_exception_type(TransientRegistryError),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential_jitter(multiplier=0.5, max=max_wait, jitter=0.5),
        before_sleep=lambda state: LOGGER.warning(
            "transient registry failure (attempt %d): %s; retrying",
            state.attempt_number,
            state.outcome.exception() if state.outcome else "?",
        ),
        reraise=False,
    )


def _with_retries(func: Callable[[], T], attempts: int, max_wait: float) -> T:
    try:
        return _retrying(attempts, max_wait)(func)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        message = str(last) if last else "unknown failure"
        raise RegistryUnreachableError(
            reason=message,
            attempts=attempts,
            next_step=getattr(last, "hint", "")
            or "check that the registry is running and reachable",
        ) from last


with_retries = _with_retries  # for readers of the registry elsewhere (verification)


def push(
    engine: Engine,
    image_ref: str,
    target: Target,
    image_name: str,
    tags: TagSet,
    *,
    attempts: int,
    max_wait: float,
    on_tag: Callable[[PushedTag], None] | None = None,
) -> list[PushedTag]:
    """Push ``image_ref`` to ``target/image_name`` under every tag of ``tags``, ``latest`` last.

    Each tag is read back from the registry and must point at the local image; any failure stops
    the push before ``latest`` moves.
    """
    image_id = require_built(engine, image_ref, image_name)
    repository = target.repository(image_name)
    credentials = credentials_for(target.domain)
    auth = credentials.docker_auth() if credentials else None
    client = RegistryClient(target.domain, credentials)
    _with_retries(client.ping, attempts, max_wait)
    path = canonical_path(target.domain, repository.split("/", 1)[1])

    def refusal(tag: str) -> FleetError | None:
        """Why Docker is retrying, unless the registry takes uploads (then Docker's retry of a
        passing failure goes on): refused for good (read-only, credentials, space) ends the
        push; down or failing hands over to the tool's retries (``push.attempts``), not ~50 s
        of Docker's own."""
        try:
            status = client.upload_refusal(path)
        except (RegistryAuthError, RegistryNoSpaceError, TransientRegistryError) as exc:
            return exc
        except FleetError:
            return None
        if status == 405:
            return PushReadOnlyError(
                reference=f"{repository}:{tag}", reason="405 Method Not Allowed"
            )
        return None

    pushed: list[PushedTag] = []
    ordered = (*tags.before_latest, *((LATEST,) if tags.moves_latest else ()))
    before: dict[str, str | None] = {}  # local tags this push made or moved: what they were
    try:
        for tag in ordered:
            started = time.monotonic()
            before.setdefault(tag, engine.image_id(f"{repository}:{tag}"))
            engine.tag(image_id, repository, tag)
            push = partial(engine.push, repository, tag, auth, why_retrying=partial(refusal, tag))
            digest = _with_retries(push, attempts, max_wait)
            remote = _with_retries(partial(client.manifest, path, tag), attempts, max_wait)
            remote = verify_tag(repository, tag, digest, image_id, remote)
            check = partial(check_index, client, path, f"{repository}:{tag}", digest)
            _with_retries(partial(check, remote.media_type), attempts, max_wait)
            result = PushedTag(f"{repository}:{tag}", digest, time.monotonic() - started)
            LOGGER.info("pushed %s %s", result.reference, digest)
            pushed.append(result)
            if on_tag:
                on_tag(result)
    except BaseException:
        # A push that fails or is interrupted (Ctrl-C, SystemExit) leaves no HOST:PORT/… tag of
        # its own behind locally: tags it made go, tags it moved point where they did.
        _restore_local_tags(engine, repository, before, image_id)
        raise
    return pushed


def _restore_local_tags(
    engine: Engine, repository: str, before: dict[str, str | None], image_id: str
) -> None:
    for tag, previous in before.items():
        if previous == image_id:
            continue
        try:
            if previous is None:
                engine.remove(f"{repository}:{tag}")
            else:
                engine.tag(previous, repository, tag)
        except Exception as exc:  # best effort: the push's own error is what the user must see
            LOGGER.warning("could not remove the local tag %s:%s: %s", repository, tag, exc)


def client_for(target: Target) -> tuple[RegistryClient, str]:
    """A client for ``target``'s registry (credentials as for pushes) and the API path prefix of
    its repositories."""
    return RegistryClient(target.domain, credentials_for(target.domain)), target.path_prefix


def find(target: Target, image_name: str, tag: str) -> str | None:
    """The digest ``target/image_name:tag`` points at in the registry, or ``None``."""
    client, prefix = client_for(target)
    remote = client.manifest(f"{prefix}{image_name}", tag)
    return remote.digest if remote else None


def holds(
    target: Target, image_name: str, reference: str, *, attempts: int, max_wait: float
) -> bool:
    """Whether the registry has ``target/image_name:reference`` (a tag or a digest), retrying
    transient failures as pushes do."""
    client, prefix = client_for(target)
    found = _with_retries(
        partial(client.manifest, f"{prefix}{image_name}", reference), attempts, max_wait
    )
    return found is not None


def retag(
    target: Target,
    image_name: str,
    source: str,
    tags: TagSet,
    *,
    attempts: int,
    max_wait: float,
    on_tag: Callable[[PushedTag], None] | None = None,
) -> list[PushedTag]:
    """Give the manifest ``target/image_name:source`` more tags inside the registry (no blob is
    uploaded, nothing is pulled): sha tags first, each read back, ``latest`` last."""
    client, prefix = client_for(target)
    path = f"{prefix}{image_name}"
    repository = target.repository(image_name)
    found = _with_retries(partial(client.manifest_bytes, path, source), attempts, max_wait)
    if found is None:
        raise TagMissingAfterPushError(reference=f"{repository}:{source}")
    body, media_type = found
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    pushed: list[PushedTag] = []
    for tag in (*tags.before_latest, *((LATEST,) if tags.moves_latest else ())):
        started = time.monotonic()
        _with_retries(partial(client.put_manifest, path, tag, body, media_type), attempts, max_wait)
        remote = _with_retries(partial(client.manifest, path, tag), attempts, max_wait)
        if remote is None:
            raise TagMissingAfterPushError(reference=f"{repository}:{tag}")
        if remote.digest != digest:
            raise TagDigestMismatchError(
                reference=f"{repository}:{tag}", remote=remote.digest, pushed=digest
            )
        # An index: every platform manifest and config it names, read back too.
        check = partial(check_index, client, path, f"{repository}:{tag}", digest, media_type)
        _with_retries(check, attempts, max_wait)
        result = PushedTag(f"{repository}:{tag}", digest, time.monotonic() - started)
        LOGGER.info("tagged %s %s in the registry", result.reference, digest)
        pushed.append(result)
        if on_tag:
            on_tag(result)
    return pushed


def promote(
    target: Target,
    images: Sequence[tuple[str, str, TagSet]],
    *,
    attempts: int,
    max_wait: float,
    on_tag: Callable[[str, PushedTag], None] | None = None,
) -> dict[str, list[PushedTag]]:
    """Tag images pushed by digest (``(name, sha256:…, tags)``, parents first) inside the
    registry once a whole run has passed: every image's tags but ``latest`` first, each read back,
    then ``latest`` of each; a failure stops before any ``latest`` moves. ``on_tag`` hears
    ``(image, tag)`` as each is verified."""
    done: dict[str, list[PushedTag]] = {name: [] for name, _, _ in images}
    for last in (False, True):
        for name, digest, tags in images:
            wanted = ((LATEST,) if tags.moves_latest else ()) if last else tags.before_latest
            if wanted:
                done[name] += retag(
                    target,
                    name,
                    digest,
                    TagSet(tags.primary, wanted, tags.version),
                    attempts=attempts,
                    max_wait=max_wait,
                    on_tag=functools.partial(on_tag, name) if on_tag else None,
                )
    return done
