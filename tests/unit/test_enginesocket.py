"""The read-only Engine API questions over a UNIX socket, against a small stand-in daemon."""

from __future__ import annotations

import json
import socketserver
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from imagefleet import early
from imagefleet.engine import Engine
from imagefleet.enginesocket import (
    DEFAULT_SOCKET,
    EngineSocket,
    EngineSocketError,
    ask_images,
    socket_path,
)
from imagefleet.errors import DaemonUnreachableError
from tests.helpers import serving

IMAGES = [
    {"Id": "sha256:aa", "RepoTags": ["fx-app:abc", "fx-app:key-1"], "Labels": {"k": "1"}},
    {"Id": "sha256:bb", "RepoTags": ["fx-base:abc"], "Labels": {"k": "2"}},
]


class _Daemon(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.seen.append((url.path, query))
        if url.path == "/_ping":
            self._send(200, b"OK", "text/plain")
        elif url.path == "/images/json":
            filters = json.loads(query["filters"][0])
            rows = [
                r
                for r in IMAGES
                if all(t in r["RepoTags"] for t in filters.get("reference", []))
                or "label" in filters
            ]
            self._send(200, json.dumps(rows).encode())
        elif url.path.startswith("/images/") and url.path.endswith("/json"):
            ref = unquote(url.path.removeprefix("/images/").removesuffix("/json"))
            found = [r for r in IMAGES if ref in r["RepoTags"]]
            if found:
                self._send(200, json.dumps(found[0]).encode())
            else:
                self._send(404, json.dumps({"message": f"No such image: {ref}"}).encode())
        else:
            self._send(500, json.dumps({"message": "boom"}).encode())

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port) address


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")
    _Daemon.seen = []
    with serving(_Server(path, _Daemon)):
        yield path


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, DEFAULT_SOCKET),
        ({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "/run/user/1000/docker.sock"),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, None),
        ({"DOCKER_HOST": "ssh://me@builder"}, None),
        ({"DOCKER_HOST": "unix://"}, None),
        ({"DOCKER_TLS_VERIFY": "1"}, None),
    ],
)
def test_only_a_plain_unix_socket_is_asked_directly(
    environ: dict[str, str], expected: str | None
) -> None:
    assert socket_path(environ) == expected


def test_images_sends_the_filters_as_the_engine_api_wants_them(daemon: str) -> None:
    rows = EngineSocket(daemon).images({"reference": ["fx-app:abc", "fx-app:key-1"]})
    assert [r["Id"] for r in rows] == ["sha256:aa"]
    path, query = _Daemon.seen[-1]
    assert path == "/images/json"
    assert json.loads(query["filters"][0]) == {"reference": ["fx-app:abc", "fx-app:key-1"]}


def test_a_missing_image_is_none_and_a_present_one_its_id(daemon: str) -> None:
    answers = EngineSocket(daemon)
    assert answers.image_id("fx-base:abc") == "sha256:bb"
    assert answers.image_id("registry.example:5000/team/nothing:1.0") is None
    assert _Daemon.seen[-1][0] == "/images/registry.example:5000/team/nothing:1.0/json"


def test_an_error_status_carries_the_daemons_message(daemon: str) -> None:
    with pytest.raises(EngineSocketError) as caught:
        EngineSocket(daemon).get("/nothing-here")
    assert caught.value.status == 500
    assert str(caught.value) == "boom"


def test_no_daemon_is_status_0_naming_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.sock")
    with pytest.raises(EngineSocketError) as caught:
        EngineSocket(path).ping()
    assert caught.value.status == 0
    assert str(caught.value) == f"{path}: No such file or directory"


def test_the_engine_asks_the_socket_and_leaves_the_sdk_alone(
    daemon: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon}")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    engine = Engine.connect("classic")
    assert engine.labelled_images("k") == IMAGES
    assert engine.image_id("fx-app:abc") == "sha256:aa"
    assert engine.image_id("fx-gone:abc") is None
    assert engine._client is None  # the SDK was never needed
    assert _Daemon.seen[0][0] == "/_ping"


def test_a_daemon_that_is_gone_is_unreachable_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "absent.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    with pytest.raises(DaemonUnreachableError) as caught:
        Engine.connect()
    assert caught.value.message == (
        f"Docker daemon not reachable: {path}: No such file or directory"
    )


def test_the_runs_first_questions_are_read_from_one_early_listing(
    daemon: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon}")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    early.forget()
    ask_images()
    engine = Engine.connect("classic")
    assert engine.labelled_images("k") == IMAGES
    assert engine.labelled_images("other") == []
    assert engine._tag_ids({"fx-base:abc", "fx-gone:1"}) == {"fx-base:abc": "sha256:bb"}
    listings = [json.loads(q["filters"][0]) for p, q in _Daemon.seen if p == "/images/json"]
    assert listings == [{}]  # one listing of everything, asked before the engine was made
    # Once images may change (here: the SDK is reached for), the daemon is asked again.
    monkeypatch.setattr("imagefleet.engine._sdk_client", lambda _timeout: object())
    assert engine.client is not None
    assert engine._tag_ids({"fx-base:abc"}) == {"fx-base:abc": "sha256:bb"}
    listings = [json.loads(q["filters"][0]) for p, q in _Daemon.seen if p == "/images/json"]
    assert listings == [{}, {"reference": ["fx-base:abc"]}]


def test_without_an_early_listing_each_question_goes_to_the_daemon(
    daemon: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon}")
    early.forget()
    engine = Engine.connect("classic")
    engine.labelled_images("k")
    engine._tag_ids({"fx-app:abc"})
    listings = [json.loads(q["filters"][0]) for p, q in _Daemon.seen if p == "/images/json"]
    assert listings == [{"label": ["k"]}, {"reference": ["fx-app:abc"]}]
