"""A fault proxy: an HTTP reverse proxy on loopback in front of a real registry, told what to
break (answer 5xx/507, be slow, cut a connection mid-body, strip the client's credentials).

It works at the socket level: each connection carries one request (``Connection: close`` is
forced on both sides), whose head is parsed to pick a fault and whose bytes are otherwise relayed
untouched, so chunked uploads and auth challenges pass exactly as the registry sent them.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_REASONS = {401: "Unauthorized", 500: "Internal Server Error", 502: "Bad Gateway"}
_REASONS |= {503: "Service Unavailable", 504: "Gateway Timeout", 507: "Insufficient Storage"}
_HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Request:
    """The head of one proxied request."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def is_upload(self) -> bool:
        """A blob upload (start, chunk or commit)."""
        return "/blobs/uploads/" in self.path and self.method in ("POST", "PATCH", "PUT")

    @property
    def is_manifest_put(self) -> bool:
        """A tag (or digest) being written."""
        return self.method == "PUT" and "/manifests/" in self.path


Match = Callable[[Request], bool]


def anything(_: Request) -> bool:
    """Every request."""
    return True


@dataclass
class Fault:
    """One thing to break: for matching requests, ``count`` times (``None``: until cleared) or
    until ``until`` (a ``time.monotonic()`` deadline)."""

    kind: str  # "status", "delay", "cut" or "strip_auth"
    when: Match = anything
    count: int | None = None
    until: float | None = None
    status: int = 503
    body: bytes = b""
    seconds: float = 0.0
    after_bytes: int = 0
    then: Callable[[], None] | None = None

    def active(self, now: float) -> bool:
        """Whether the fault still applies."""
        if self.count is not None and self.count <= 0:
            return False
        return self.until is None or now < self.until


@dataclass
class FaultProxy:
    """A running proxy to ``upstream`` (``HOST:PORT``); add faults, read :attr:`seen`."""

    upstream: tuple[str, int]
    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, what)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        """``localhost:PORT``: Docker pushes to loopback registries over plain HTTP."""
        return f"localhost:{self.port}"

    # -- telling it what to break ----------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        """Apply ``fault`` from now on (faults added first win)."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(
        self,
        status: int = 503,
        *,
        count: int | None = None,
        seconds: float | None = None,
        when: Match = anything,
        body: bytes = b"",
    ) -> Fault:
        """Answer ``status`` (the registry never sees the request)."""
        until = None if seconds is None else time.monotonic() + seconds
        reason = _REASONS.get(status, "Error")
        text = body or f"<html><body><h1>{status} {reason}</h1></body></html>\n".encode()
        return self.add(Fault("status", when, count, until, status=status, body=text))

    def delay(self, seconds: float, *, when: Match = anything, count: int | None = None) -> Fault:
        """Hold each matching request ``seconds`` before it reaches the registry."""
        return self.add(Fault("delay", when, count, seconds=seconds))

    def cut(
        self,
        after_bytes: int,
        *,
        when: Match = anything,
        count: int | None = 1,
        then: Callable[[], None] | None = None,
    ) -> Fault:
        """Relay ``after_bytes`` of the request body, run ``then`` (kill the registry, say), and
        drop both connections: a registry that died mid-upload."""
        return self.add(Fault("cut", when, count, after_bytes=after_bytes, then=then))

    def strip_auth(self, *, when: Match = anything) -> Fault:
        """Remove the client's ``Authorization`` header: the registry itself answers 401, as
        for revoked credentials."""
        return self.add(Fault("strip_auth", when))

    def clear(self) -> None:
        """Break nothing any more."""
        with self._lock:
            self.faults.clear()

    def on(self, when: Match, action: Callable[[Request], None]) -> None:
        """Run ``action`` on the first request matching ``when`` (before it is relayed); the
        faults it adds apply from the next request on."""
        done = threading.Event()

        def hook(request: Request) -> bool:
            if not done.is_set() and when(request):
                done.set()
                action(request)
            return False

        self.add(Fault("hook", hook))

    def count(self, method: str, part: str, what: str = "relayed") -> int:
        """How many ``method`` requests whose path holds ``part`` were handled as ``what``."""
        return sum(1 for m, p, w in list(self.seen) if m == method and part in p and w == what)

    # -- serving ----------------------------------------------------------------------------------

    def _pick(self, request: Request) -> list[Fault]:
        now = time.monotonic()
        picked: list[Fault] = []
        with self._lock:
            faults = [f for f in self.faults if f.active(now)]
        for fault in faults:
            if not fault.when(request):
                continue
            with self._lock:
                if fault.count is not None and fault.kind != "cut":  # counted once it cuts
                    if fault.count <= 0:
                        continue
                    fault.count -= 1
            picked.append(fault)
            if fault.kind in ("status", "cut"):
                break  # the request ends here
        return picked

    def handle(self, client: socket.socket) -> None:
        """Serve one connection: one request, faulted or relayed."""
        with contextlib.closing(client):
            client.settimeout(30)
            head, rest = _read_head(client)
            if head is None:
                return
            if not head:
                self._pass_through(client, rest)
                return
            request = _parse(head)
            picked = self._pick(request)
            headers = dict(request.headers)
            for fault in picked:
                if fault.kind == "delay":
                    time.sleep(fault.seconds)
                elif fault.kind == "strip_auth":
                    headers.pop("authorization", None)
            final = picked[-1] if picked and picked[-1].kind in ("status", "cut") else None
            if final is not None and final.kind == "status":
                self.seen.append((request.method, request.path, f"answered {final.status}"))
                _drain(client, request.headers, rest)
                _answer(client, final.status, final.body)
                return
            self.seen.append((request.method, request.path, "cut" if final else "relayed"))
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                return  # the registry is gone: the client sees its connection closed
            with contextlib.closing(upstream):
                upstream.sendall(_head(request, headers) + rest)
                budget = None
                if final is not None:
                    budget = final.after_bytes - len(rest)
                cut = _relay(client, upstream, budget)
                if cut and final is not None:
                    with self._lock:
                        if final.count is not None:
                            final.count -= 1
                    if final.then is not None:
                        final.then()
                    _reset(client)

    def _pass_through(self, client: socket.socket, data: bytes) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            return
        with contextlib.closing(upstream):
            upstream.sendall(data)
            _relay(client, upstream, None)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None, b""
        if not chunk or len(data) > _HEAD_LIMIT:
            return None, b""
        data += chunk
        if not data[:1].isalpha():  # not HTTP (Docker tries TLS first): relay it as it is
            return b"", data
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(method, path, headers)


def _head(request: Request, headers: dict[str, str]) -> bytes:
    headers = {k: v for k, v in headers.items() if k not in ("connection", "keep-alive")}
    lines = [f"{request.method} {request.path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _answer(sock: socket.socket, status: int, body: bytes) -> None:
    reason = _REASONS.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)


def _drain(sock: socket.socket, headers: dict[str, str], rest: bytes) -> None:
    """Read the request body before answering early, so the client reads our answer rather
    than a reset."""
    length = int(headers.get("content-length") or 0)
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    got, tail = len(rest), rest[-5:]
    sock.settimeout(2)
    with contextlib.suppress(OSError):
        while (chunked and tail != b"0\r\n\r\n") or (not chunked and got < length):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got, tail = got + len(chunk), (tail + chunk)[-5:]


def _relay(client: socket.socket, upstream: socket.socket, budget: int | None) -> bool:
    """Pipe bytes both ways until the registry closes; ``True`` when the request body went
    past ``budget`` and the connection was cut."""
    if budget is not None and budget <= 0:
        return True
    sockets = [client, upstream]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return False
        for sock in readable:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return False
            if not chunk:
                if sock is upstream:
                    return False
                sockets.remove(client)  # the client finished sending: wait for the answer
                continue
            if sock is client and budget is not None:
                if len(chunk) >= budget:
                    with contextlib.suppress(OSError):
                        upstream.sendall(chunk[:budget])
                    return True
                budget -= len(chunk)
            other = upstream if sock is client else client
            try:
                other.sendall(chunk)
            except OSError:
                return False


def _reset(sock: socket.socket) -> None:
    """Close with a reset, as a dying server's kernel does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@contextlib.contextmanager
def running(upstream: tuple[str, int]) -> Iterator[FaultProxy]:
    """Serve a :class:`FaultProxy` to ``upstream`` on a free loopback port until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = FaultProxy(upstream, port=listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=proxy.handle, args=(client,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stop.set()
        thread.join(5)
        listener.close()
