"""Helpers shared by the test suites: a throwaway git project built from the fixture images."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity; return stdout."""
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.email=tests@imagefleet.invalid",
            "-c",
            "user.name=tests",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def require(reason: str, how: str) -> NoReturn:
    """A real component is missing: skip outside CI, saying how to enable the test; under CI the
    test fails instead (tests that need a real component must run there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: this test must run in CI ({how})")
    pytest.skip(f"{reason}; {how} to run it")


def busybox() -> Path | None:
    """A static busybox to copy into fixture contexts (Debian's busybox-static)."""
    for candidate in BUSYBOX_CANDIDATES:
        if candidate.is_file():
            return candidate
    found = shutil.which("busybox")
    return Path(found) if found else None


def make_project(
    root: Path,
    images: dict[str, Path] | None = None,
    *,
    with_busybox: bool = True,
    branch: str = "main",
) -> Path:
    """A git repository at ``root`` with ``images/`` copied from fixture directories, committed."""
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    sources = images or {p.name: p for p in sorted((FIXTURES / "images").iterdir())}
    box = busybox() if with_busybox else None
    for name, source in sources.items():
        shutil.copytree(source, images_dir / name)
        if box is not None:
            shutil.copy2(box, images_dir / name / "busybox")
    (root / ".gitignore").write_text(".fleet/\n")
    git(root, "init", "-q", "-b", branch)
    git(root, "remote", "add", "origin", "https://example.invalid/org/images.git")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fixture project")
    return root


@dataclass(frozen=True)
class Result:
    """A finished CLI run."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams, for assertions about what a user sees."""
        return self.stdout + self.stderr


def invoke(
    project: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    python: str | None = None,
) -> Result:
    """Run the real CLI (``invoke …`` from this repository's tasks.py) against ``project``;
    ``python`` is another path to the interpreter (tools installed beside it are found there)."""
    full_env = {**os.environ, "INVOKE_FLEET_ROOT": str(project), "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [python or sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Receiver:
    """A webhook receiver on loopback: the (path, JSON body) of every POST it got, and the
    status it answers with."""

    port: int
    status: int = 200
    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """``server`` answering from a thread of its own while the block runs; shut and closed
    after it, also on failure."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """Serve a :class:`Receiver` on a free loopback port until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            receiver.got.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(int(server.server_address[1]))
    with serving(server):
        yield receiver
