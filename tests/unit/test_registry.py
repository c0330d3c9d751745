"""The registry client against a small token-auth registry double served on loopback."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast

import pytest

from imagefleet import registry
from imagefleet.credentials import Credentials
from imagefleet.engine import Engine
from imagefleet.errors import (
    PushReadOnlyError,
    RegistryAuthError,
    RegistryError,
    RegistryHostUnknownError,
    RegistryNoSpaceError,
    RegistryRefusedError,
    TransientRegistryError,
)
from imagefleet.notify import ImageFacts, describe
from imagefleet.pusherrors import classify_push_error
from imagefleet.reference import parse_target
from imagefleet.registry import PushedTag, RegistryClient, RemoteManifest, is_loopback
from imagefleet.tags import TagSet

DIGEST = "sha256:" + "d" * 64
CONFIG = "sha256:" + "c" * 64


class _Handler(BaseHTTPRequestHandler):
    """Speaks just enough distribution API with a bearer token service, like Docker Hub."""

    requests: ClassVar[list[str]] = []
    fail_next: ClassVar[int] = 0
    fail_status: ClassVar[int] = 503
    served: ClassVar[dict[str, dict[str, object]]] = {}  # more paths (behind the token) -> body
    upload_status: ClassVar[int] = 202  # what starting a blob upload gets (405: read-only)

    def log_message(self, *_: object) -> None:
        pass

    def _send(
        self, code: int, body: dict[str, object], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        type(self).requests.append(
            f"{self.command} {self.path}" if self.command != "GET" else self.path
        )
        port = cast(ThreadingHTTPServer, self.server).server_port
        if type(self).fail_next:
            type(self).fail_next -= 1
            self._send(type(self).fail_status, {"errors": [{"code": "UNAVAILABLE"}]})
            return
        if self.path.startswith("/token"):
            expected = "Basic " + base64.b64encode(b"robot:s3cret-value").decode()
            if self.headers.get("Authorization") != expected:
                self._send(401, {"details": "bad credentials"})
                return
            self._send(200, {"token": "tkn"})
            return
        if self.headers.get("Authorization") != "Bearer tkn":
            challenge = (
                f'Bearer realm="http://127.0.0.1:{port}/token",service="double",'
                'scope="repository:team/app:pull"'
            )
            self._send(401, {"errors": []}, {"WWW-Authenticate": challenge})
            return
        self._authorised()

    def _authorised(self) -> None:
        if self.command == "POST" and self.path == "/v2/team/app/blobs/uploads/":
            location = {"Location": "/v2/team/app/blobs/uploads/u1?_state=s"}
            self._send(type(self).upload_status, {}, location)
            return
        if self.command == "DELETE":
            self._send(204, {})
            return
        if self.path in type(self).served:
            self._send(200, type(self).served[self.path])
            return
        if self.path == "/v2/team/app/manifests/1.0":
            self._send(
                200,
                {"schemaVersion": 2, "config": {"digest": CONFIG}},
                {
                    "Docker-Content-Digest": DIGEST,
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                },
            )
            return
        self._send(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    do_POST = do_GET
    do_DELETE = do_GET


@pytest.fixture
def double() -> Iterator[int]:
    _Handler.upload_status = 202
    _Handler.requests = []
    _Handler.fail_next = 0
    _Handler.fail_status = 503
    _Handler.served = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_accepted_upload_is_cancelled_again(double: int) -> None:
    client = RegistryClient(f"127.0.0.1:{double}", Credentials("robot", "s3cret-value"))
    assert client.upload_refusal("team/app") is None
    assert "DELETE /v2/team/app/blobs/uploads/u1?_state=s" in _Handler.requests


def test_a_read_only_registry_refuses_the_upload(double: int) -> None:
    _Handler.upload_status = 405
    client = RegistryClient(f"127.0.0.1:{double}", Credentials("robot", "s3cret-value"))
    assert client.upload_refusal("team/app") == 405
    assert not any(r.startswith("DELETE") for r in _Handler.requests)


def test_bearer_token_flow_reads_digest_and_config(double: int) -> None:
    client = RegistryClient(f"127.0.0.1:{double}", Credentials("robot", "s3cret-value"))
    remote = client.manifest("team/app", "1.0")
    assert remote is not None
    assert (remote.digest, remote.config_digest) == (DIGEST, CONFIG)
    assert client.manifest("team/app", "missing") is None
    # The token is cached per scope: one token request for two manifest reads.
    assert sum(r.startswith("/token") for r in _Handler.requests) == 1


def test_wrong_credentials_are_an_auth_error_without_the_secret(double: int) -> None:
    client = RegistryClient(f"127.0.0.1:{double}", Credentials("robot", "wrong-secret-xyz"))
    with pytest.raises(RegistryAuthError) as info:
        client.manifest("team/app", "1.0")
    assert "refused authentication as 'robot'" in info.value.message
    assert "wrong-secret-xyz" not in info.value.message + info.value.hint
    assert "wrong-secret-xyz" not in repr(Credentials("robot", "wrong-secret-xyz"))


def test_5xx_and_refused_connections_are_transient(double: int) -> None:
    _Handler.fail_next = 1
    client = RegistryClient(f"127.0.0.1:{double}", Credentials("robot", "s3cret-value"))
    with pytest.raises(TransientRegistryError, match="answered 503"):
        client.manifest("team/app", "1.0")
    with pytest.raises(TransientRegistryError, match="refused the connection"):
        RegistryClient("127.0.0.1:1").ping()


def test_insufficient_storage_is_not_transient(double: int) -> None:
    _Handler.fail_next, _Handler.fail_status = 1, 507
    client = RegistryClient(f"127.0.0.1:{double}", Credentials("robot", "s3cret-value"))
    with pytest.raises(RegistryNoSpaceError, match="answered 507") as caught:
        client.manifest("team/app", "1.0")
    assert not isinstance(caught.value, TransientRegistryError)
    assert "free space" in caught.value.hint


def test_ping_accepts_an_auth_challenge(double: int) -> None:
    # Without credentials the double challenges /v2/ and refuses the token: still an answer.
    RegistryClient(f"127.0.0.1:{double}").ping()
    assert _Handler.requests[0] == "/v2/"
    assert any(r.startswith("/token") for r in _Handler.requests)
    # A registry that answers nothing is not reachable: ping must say so.
    _Handler.fail_next = 10
    with pytest.raises(TransientRegistryError):
        RegistryClient(f"127.0.0.1:{double}").ping()


@pytest.mark.parametrize(
    ("domain", "loopback"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        ("docker.io", False),
        ("ghcr.io", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_loopback_registries_use_http(domain: str, loopback: bool) -> None:
    assert is_loopback(domain) is loopback
    assert RegistryClient(domain).base.startswith("http://" if loopback else "https://")


def test_docker_hub_api_host() -> None:
    assert RegistryClient("docker.io").base == "https://registry-1.docker.io"


def _manifest(config_size: int, *layers: int) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "config": {"digest": CONFIG, "size": config_size},
        "layers": [{"digest": DIGEST, "size": size} for size in layers],
    }


def test_describe_an_index(double: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_REGISTRY_USERNAME", "robot")
    monkeypatch.setenv("FLEET_REGISTRY_PASSWORD", "s3cret-value")
    amd, arm, att = ("sha256:" + c * 64 for c in "123")
    _Handler.served = {
        f"/v2/team/app/manifests/{DIGEST}": {
            "manifests": [
                {"digest": amd, "platform": {"os": "linux", "architecture": "amd64"}},
                {
                    "digest": arm,
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                },
                # BuildKit's provenance rides along as a manifest of platform unknown/unknown.
                {"digest": att, "platform": {"os": "unknown", "architecture": "unknown"}},
            ]
        },
        f"/v2/team/app/manifests/{amd}": _manifest(100, 1000, 2000),
        f"/v2/team/app/manifests/{arm}": _manifest(100, 900),
    }
    facts = describe(parse_target(f"127.0.0.1:{double}/team"), "app", DIGEST)
    assert facts == ImageFacts(("linux/amd64", "linux/arm64/v8"), 4100)
    assert f"/v2/team/app/manifests/{att}" not in _Handler.requests


def test_describe_one_manifest_reads_its_config(
    double: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_REGISTRY_USERNAME", "robot")
    monkeypatch.setenv("FLEET_REGISTRY_PASSWORD", "s3cret-value")
    _Handler.served = {
        f"/v2/team/app/manifests/{DIGEST}": _manifest(50, 700),
        f"/v2/team/app/blobs/{CONFIG}": {"os": "linux", "architecture": "arm64"},
    }
    facts = describe(parse_target(f"127.0.0.1:{double}/team"), "app", DIGEST)
    assert facts == ImageFacts(("linux/arm64",), 750)


# --- push: fail fast when no retry can help, and leave no local tag behind --------------------


class _Engine:
    """Local tags in a dict; ``push`` answers from a script (an exception to raise, or a
    digest)."""

    def __init__(self, replies: list[BaseException | str], tags: dict[str, str] | None = None):
        self.tags = {"app:abc": IMAGE, **(tags or {})}
        self.replies = replies
        self.pushes: list[str] = []

    def image_id(self, ref: str) -> str | None:
        return self.tags.get(ref)

    def tag(self, source: str, repository: str, tag: str) -> None:
        self.tags[f"{repository}:{tag}"] = self.tags.get(source, source)

    def remove(self, ref: str) -> None:
        self.tags.pop(ref, None)

    def push(
        self,
        repository: str,
        tag: str,
        auth: object = None,
        *,
        why_retrying: Callable[[], BaseException | None] | None = None,
    ) -> str:
        self.pushes.append(f"{repository}:{tag}")
        reply = self.replies[min(len(self.pushes), len(self.replies)) - 1]
        if reply == RETRYING:  # Docker says "Retrying in 5 seconds" and then gets through
            refusal = why_retrying() if why_retrying else None
            if refusal is not None:
                raise refusal
            return DIGEST
        if isinstance(reply, BaseException):
            raise reply
        return reply


RETRYING = "retrying"


IMAGE = "sha256:" + "1" * 64


class _Client:
    """A registry that answers every tag with the pushed image."""

    upload_status: ClassVar[int | None] = None

    def __init__(self, domain: str, credentials: object = None) -> None:
        self.domain = domain

    def upload_refusal(self, path: str) -> int | None:
        if self.upload_status == 0:  # the registry is down
            raise RegistryRefusedError(domain="127.0.0.1:5000")
        return self.upload_status

    def ping(self) -> None:
        pass

    def manifest(self, path: str, reference: str) -> RemoteManifest:
        return RemoteManifest(DIGEST, "application/vnd.oci.image.manifest.v1+json", IMAGE)


def _push(engine: _Engine, monkeypatch: pytest.MonkeyPatch) -> list[PushedTag]:
    monkeypatch.setattr(registry, "RegistryClient", _Client)
    monkeypatch.setattr(registry, "credentials_for", lambda domain: None)
    tags = TagSet(primary="abc", tags=("abc", "1.0", "latest"))
    return registry.push(
        cast(Engine, engine),
        "app:abc",
        parse_target("127.0.0.1:5000/team"),
        "app",
        tags,
        attempts=5,
        max_wait=0.01,
    )


@pytest.mark.parametrize(
    "message",
    [
        "received unexpected HTTP status: 405 Method Not Allowed",  # a read-only registry
        "dial tcp: lookup registry.invalid on 10.0.0.53:53: no such host",
        "unauthorized: authentication required",
        "denied: requested access to the resource is denied",
    ],
)
def test_a_push_that_no_retry_can_help_fails_at_once_and_untags(
    monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    failure = classify_push_error(message)(reference="r:t", reason=message)
    engine = _Engine([DIGEST, failure])
    with pytest.raises(RegistryError) as caught:
        _push(engine, monkeypatch)
    assert caught.value is failure
    assert len(engine.pushes) == 2  # the first tag, then one try of the second: no retries
    assert engine.tags == {"app:abc": IMAGE}  # no 127.0.0.1:5000/team/app:… left behind


def test_transient_failures_are_still_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = classify_push_error("received unexpected HTTP status: 503 Service Unavailable")
    engine = _Engine([busy(reference="r:t", reason="503"), DIGEST])
    pushed = _push(engine, monkeypatch)
    assert [p.reference.rsplit(":", 1)[1] for p in pushed] == ["abc", "1.0", "latest"]
    assert len(engine.pushes) == 4
    assert "127.0.0.1:5000/team/app:latest" in engine.tags  # a finished push keeps its tags


@pytest.mark.parametrize("signal", [KeyboardInterrupt(), SystemExit(143)])
def test_an_interrupted_push_untags_and_restores_what_it_moved(
    monkeypatch: pytest.MonkeyPatch, signal: BaseException
) -> None:
    older = "sha256:" + "9" * 64
    engine = _Engine([DIGEST, signal], tags={"127.0.0.1:5000/team/app:1.0": older})
    with pytest.raises(type(signal)):
        _push(engine, monkeypatch)
    assert engine.tags == {"app:abc": IMAGE, "127.0.0.1:5000/team/app:1.0": older}


def test_an_unresolvable_registry_host_is_not_retried() -> None:
    import socket

    import requests
    import urllib3

    class Session(requests.Session):
        calls = 0

        def request(self, *args: object, **kwargs: object) -> requests.Response:
            type(self).calls += 1
            cause = socket.gaierror(-2, "Name or service not known")
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(cast(Any, None), "/v2/", reason=cause)
            )

    client = RegistryClient("registry.invalid:5000", session=Session())
    with pytest.raises(RegistryHostUnknownError) as caught:
        registry._with_retries(client.ping, 5, 0.01)
    assert Session.calls == 1
    assert caught.value.message == "registry host registry.invalid:5000 does not resolve"


def test_docker_retrying_against_a_read_only_registry_stops_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Docker retries an upload a read-only registry refused for ~50 s: at its first retry the
    registry is asked, says 405, and the push fails with the read-only error, untagged."""
    monkeypatch.setattr(_Client, "upload_status", 405)
    engine = _Engine([DIGEST, RETRYING])
    with pytest.raises(PushReadOnlyError, match="405"):
        _push(engine, monkeypatch)
    assert len(engine.pushes) == 2  # no retry of the tool's own either
    assert engine.tags == {"app:abc": IMAGE}


def test_docker_retrying_through_a_passing_failure_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Client, "upload_status", None)  # the registry accepts uploads
    engine = _Engine([DIGEST, RETRYING, DIGEST])
    assert len(_push(engine, monkeypatch)) == 3


def test_docker_retrying_against_a_registry_that_is_down_hands_over_to_our_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Down, not refusing: the tool's retries (bounded by push.attempts) replace Docker's ~50 s."""
    monkeypatch.setattr(_Client, "upload_status", 0)
    engine = _Engine([DIGEST, RETRYING])
    with pytest.raises(RegistryError, match="gave up after 5 attempts"):
        _push(engine, monkeypatch)
    assert len(engine.pushes) == 6  # the first tag, then five tries of the second
