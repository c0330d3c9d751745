"""`invoke push` through a fault proxy in front of the real registry: 5xx for a while or for
good, slow answers, connections cut mid-upload, the registry killed (mid-upload, between two
tags) and restarted, out of space, credentials revoked between two tags.

For each fault: `latest` never moves to an unverified digest (read from the registry itself,
not through the proxy), the exit code is the documented one, a rerun with the fault cleared
completes the push, and nothing else changed (no stray local tags, no stray registry tags).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import docker
import pytest
import requests

from imagefleet import localregistry
from imagefleet.engine import Engine
from imagefleet.registry import MANIFEST_TYPES
from tests import faultproxy, seeding
from tests.helpers import FIXTURES, Result, git, invoke, make_project, require

pytestmark = pytest.mark.integration

# A name no other suite's janitor removes (the engine is shared): this file cleans up its own.
NAME = "fx-faults"
PATH = f"team/{NAME}"
USER, SECRET = "ci-robot", "pw-3c2b1a0f9e8d"
# Short retries: every failing run must end in seconds (the whole file has a CI budget).
FAST = {"INVOKE_FLEET_PUSH_ATTEMPTS": "2", "INVOKE_FLEET_PUSH_MAX_WAIT": "0.2"}
PATIENT = {"INVOKE_FLEET_PUSH_ATTEMPTS": "8", "INVOKE_FLEET_PUSH_MAX_WAIT": "1"}


def _ours(ref: str) -> bool:
    repository = ref.rsplit(":", 1)[0]
    return repository == NAME or repository.endswith(f"/{NAME}")


def _local_tags(engine: Engine) -> set[str]:
    return {ref for image in engine.client.images.list() for ref in image.tags if _ours(ref)}


@pytest.fixture
def project(tmp_path: Path, engine: Engine, busybox_path: Path) -> Iterator[Path]:
    """A committed project holding one small image, built; every local tag of it removed after."""
    root = make_project(tmp_path / "project", {NAME: FIXTURES / "images" / "fx-plain"})
    try:
        built = invoke(root, "build", "--image", NAME)
        assert built.code == 0, built.output
        yield root
    finally:
        for ref in _local_tags(engine):
            with contextlib.suppress(docker.errors.APIError):
                engine.remove(ref)


@dataclass
class Stack:
    """The real registry (restartable on its port) and the fault proxy in front of it."""

    directory: Path
    registry: localregistry.LocalRegistry
    proxy: faultproxy.FaultProxy
    auth: tuple[str, str] | None = None

    @property
    def target(self) -> str:
        """What the CLI pushes to: the proxy."""
        return f"{self.proxy.address}/team"

    def kill(self) -> None:
        """SIGKILL the registry, as a crash or the OOM killer would."""
        assert self.registry.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.registry.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while localregistry.status(self.directory) is not None and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self, *, read_only: bool = False) -> None:
        """Start the registry again on the same port and storage (``read_only``: in maintenance
        mode, every upload refused with 405)."""
        htpasswd = Path(self.registry.htpasswd) if self.registry.htpasswd else None
        port = self.registry.port
        localregistry.stop(self.directory, keep_storage=True)
        self.registry = localregistry.start(
            self.directory, port, htpasswd=htpasswd, read_only=read_only
        )

    # -- the registry's own view (never through the proxy) ---------------------------------------

    def tags(self) -> set[str]:
        """Every tag of the image in the registry."""
        url = f"{self.registry.url}/v2/{PATH}/tags/list"
        response = requests.get(url, auth=self.auth, timeout=10)
        if response.status_code == 404:
            return set()
        response.raise_for_status()
        return set(response.json()["tags"] or ())

    def digest(self, tag: str) -> str | None:
        """The manifest digest ``tag`` points at, or ``None``."""
        response = requests.get(
            f"{self.registry.url}/v2/{PATH}/manifests/{tag}",
            headers={"Accept": MANIFEST_TYPES},
            auth=self.auth,
            timeout=10,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return str(response.headers["Docker-Content-Digest"])

    def seed_latest(self) -> str:
        """An older image as ``latest`` (an empty manifest, written straight to the registry):
        the digest a failed push must leave it at."""
        config = {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        return seeding.image(self.registry.url, PATH, config, reference="latest", auth=self.auth)


@contextlib.contextmanager
def _stack(directory: Path, htpasswd: Path | None = None) -> Iterator[Stack]:
    if localregistry.find_binary() is None:
        require("no registry binary", "apt-get install docker-registry")
    registry = localregistry.start(directory, htpasswd=htpasswd)
    try:
        with faultproxy.running(("127.0.0.1", registry.port)) as proxy:
            yield Stack(directory, registry, proxy, (USER, SECRET) if htpasswd else None)
    finally:
        localregistry.stop(directory)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A real registry behind a fault proxy, both stopped afterwards."""
    with _stack(tmp_path / "registry") as running:
        yield running


def _push(project: Path, stack: Stack, env: dict[str, str], *, timeout: float = 90) -> Result:
    credentials = {"FLEET_REGISTRY_USERNAME": USER, "FLEET_REGISTRY_PASSWORD": SECRET}
    full = {**env, **(credentials if stack.auth else {})}
    args = ("push", "--image", NAME, "--registry", stack.target)
    return invoke(project, *args, env=full, timeout=timeout)


def _policy_tags(project: Path, engine: Engine) -> set[str]:
    """Every tag a complete push of the image makes (latest included)."""
    from imagefleet.content import KEY_LABEL, key_tag

    sha = git(project, "rev-parse", "HEAD")
    key = key_tag(engine.labels(f"{NAME}:{sha}")[KEY_LABEL])
    return {sha, f"sha-{sha[:12]}", key, "latest"}


def _assert_failed_cleanly(
    stack: Stack, engine: Engine, project: Path, *, old_latest: str, local_before: set[str]
) -> None:
    """After a failed push: latest where it was, every other tag present points at the image
    (never at anything half-pushed), no tag outside the policy, no new local tag."""
    assert stack.digest("latest") == old_latest
    pushed = stack.tags() - {"latest"}
    assert pushed <= _policy_tags(project, engine)
    assert len({stack.digest(tag) for tag in pushed}) <= 1
    assert _local_tags(engine) == local_before


def _assert_complete(stack: Stack, engine: Engine, project: Path, local_before: set[str]) -> None:
    """After a successful push: every policy tag, all at one digest, latest included, and the
    only new local tags are the pushed ones."""
    expected = _policy_tags(project, engine)
    assert stack.tags() == expected
    sha = git(project, "rev-parse", "HEAD")
    digest = stack.digest(sha)
    assert digest is not None
    assert {stack.digest(tag) for tag in expected} == {digest}
    pushed_refs = {f"{stack.target}/{NAME}:{tag}" for tag in expected}
    assert _local_tags(engine) == local_before | pushed_refs


def _fail_then_rerun(
    project: Path,
    stack: Stack,
    engine: Engine,
    *,
    code: int,
    says: str,
    recover: Callable[[], None] | None = None,
    arrange: Callable[[], None] | None = None,
) -> Result:
    """Push with the faults already set up (or set up by ``arrange`` once ``latest`` is
    seeded): it fails with ``code`` saying ``says``; the faults are cleared (and ``recover``
    run: restart the registry, free space); everything is as it was; a rerun completes.
    Returns the failed run."""
    old_latest = stack.seed_latest()
    if arrange is not None:
        arrange()
    before = _local_tags(engine)
    started = time.monotonic()
    failed = _push(project, stack, FAST)
    assert failed.code == code, failed.output
    assert time.monotonic() - started < 30, failed.output
    assert "Traceback" not in failed.output
    assert says in failed.stderr, failed.stderr
    assert "hint: " in failed.stderr
    stack.proxy.clear()
    if recover is not None:
        recover()
    _assert_failed_cleanly(stack, engine, project, old_latest=old_latest, local_before=before)

    rerun = _push(project, stack, FAST)
    assert rerun.code == 0, rerun.output
    _assert_complete(stack, engine, project, before)
    return failed


# -- 5xx -------------------------------------------------------------------------------------------


def test_503_for_a_while_is_retried_through(project: Path, stack: Stack, engine: Engine) -> None:
    """The registry answers 503 to everything for two seconds, from the first tag on."""
    stack.seed_latest()
    before = _local_tags(engine)
    proxy = stack.proxy

    def unavailable(_: faultproxy.Request) -> None:
        proxy.fail(503, seconds=2.0)

    proxy.on(lambda r: r.is_manifest_put, unavailable)
    result = _push(project, stack, PATIENT)
    assert result.code == 0, result.output
    assert "retrying" in result.stderr
    assert any(what == "answered 503" for _, _, what in proxy.seen)
    _assert_complete(stack, engine, project, before)


def test_500_until_cleared_gives_up_then_a_rerun_completes(
    project: Path, stack: Stack, engine: Engine
) -> None:
    """Every tag after the first is answered 500: the push gives up after its retries."""
    proxy = stack.proxy
    first = git(project, "rev-parse", "HEAD")
    proxy.fail(500, when=lambda r: r.is_manifest_put and not r.path.endswith(f"/{first}"))
    failed = _fail_then_rerun(project, stack, engine, code=5, says="gave up after 2 attempts")
    assert "500 Internal Server Error" in failed.stderr


# -- slow ------------------------------------------------------------------------------------------


def test_slow_registry_still_pushes(project: Path, stack: Stack, engine: Engine) -> None:
    """Every request held 0.2 s: slower, not failed, and nothing retried."""
    before = _local_tags(engine)
    stack.proxy.delay(0.2)
    result = _push(project, stack, FAST)
    assert result.code == 0, result.output
    assert "retrying" not in result.stderr
    _assert_complete(stack, engine, project, before)


# -- connections cut, the registry killed ----------------------------------------------------------


def test_registry_killed_mid_upload_and_restarted(
    project: Path, stack: Stack, engine: Engine
) -> None:
    """The registry dies 64 KiB into the image's layer upload and comes back: the push
    completes (Docker resumes the upload), latest ends at the verified digest."""
    stack.seed_latest()
    before = _local_tags(engine)

    def crash_and_restart() -> None:
        stack.kill()
        stack.restart()

    stack.proxy.cut(64 * 1024, when=lambda r: r.method == "PATCH", then=crash_and_restart)
    result = _push(project, stack, FAST)
    assert result.code == 0, result.output
    assert stack.proxy.count("PATCH", "/blobs/uploads/", "cut") >= 1
    _assert_complete(stack, engine, project, before)


def test_registry_killed_mid_upload_and_left_down(
    project: Path, stack: Stack, engine: Engine
) -> None:
    """The registry dies 64 KiB into the layer upload and stays down. Docker alone would retry
    the upload for ~50 s per attempt; the tool asks the registry at Docker's first retry, finds
    it down, and its own retries (push.attempts) end the push: exit 5 in seconds; restarted, a
    rerun completes."""
    stack.proxy.cut(64 * 1024, when=lambda r: r.method == "PATCH", then=stack.kill)
    failed = _fail_then_rerun(
        project, stack, engine, code=5, says="gave up after 2 attempts", recover=stack.restart
    )
    assert stack.proxy.count("PATCH", "/blobs/uploads/", "cut") >= 1
    assert "Traceback" not in failed.stderr


def test_registry_killed_between_tags(project: Path, stack: Stack, engine: Engine) -> None:
    """The registry dies after the first tag and stays down: exit 5 within seconds; restarted,
    a rerun completes."""
    proxy = stack.proxy

    def after_first_tag(request: faultproxy.Request) -> bool:
        return request.path == "/v2/" and proxy.count("PUT", "/manifests/") >= 1

    proxy.on(after_first_tag, lambda _: stack.kill())
    failed = _fail_then_rerun(
        project, stack, engine, code=5, says="gave up after 2 attempts", recover=stack.restart
    )
    assert "refused the connection" in failed.stderr or "EOF" in failed.stderr


# -- out of space ----------------------------------------------------------------------------------


def test_registry_out_of_space(tmp_path: Path, project: Path, engine: Engine) -> None:
    """The registry's storage is a real 8 MiB tmpfs that fills up once the layers are in: the
    push fails (exit 5; the registry says 500, so it is retried as any 5xx), latest stays;
    space freed (and the registry's torn blob removed), a rerun completes."""
    directory = tmp_path / "small-registry"
    storage = directory / "storage"
    storage.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(storage)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root")
    filler = storage / "filler"
    try:
        with _stack(directory) as stack:

            def fill(_: faultproxy.Request) -> None:
                fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    with contextlib.suppress(OSError):
                        while True:
                            os.write(fd, b"\0" * 65536)
                    with contextlib.suppress(OSError):
                        while True:  # the last pages, one small write at a time
                            os.write(fd, b"\0" * 512)
                finally:
                    os.close(fd)

            def free_and_repair() -> None:
                filler.unlink()
                # The registry writes blobs in place: one written as the disk filled is left
                # empty, and never rewritten ("unexpected end of JSON input" on every read).
                # Its operator deletes such blobs (or garbage-collects) after freeing space.
                for data in storage.rglob("data"):
                    if data.stat().st_size == 0:
                        data.unlink()

            # Filled as the first tag of the push is written (the seeded latest fits first).
            stack.proxy.on(lambda r: r.is_manifest_put and not r.path.endswith("/latest"), fill)
            _fail_then_rerun(
                project,
                stack,
                engine,
                code=5,
                says="500 Internal Server Error",
                recover=free_and_repair,
            )
    finally:
        subprocess.run(["umount", str(storage)], check=False)


def test_registry_over_quota_fails_at_once(project: Path, stack: Stack, engine: Engine) -> None:
    """A registry that answers 507 Insufficient Storage from the second tag on: no retry can
    help, so none is made; a rerun (quota raised) completes."""
    first = git(project, "rev-parse", "HEAD")
    stack.proxy.fail(507, when=lambda r: r.is_manifest_put and not r.path.endswith(f"/{first}"))
    failed = _fail_then_rerun(project, stack, engine, code=5, says="507 Insufficient Storage")
    assert "retrying" not in failed.stderr
    assert "free space or raise the quota" in failed.stderr


def test_read_only_registry_fails_at_dockers_first_retry(
    project: Path, stack: Stack, engine: Engine
) -> None:
    """A registry in maintenance (read-only) mode answers 405 to every upload, which Docker
    retries for ~50 s on its own: at its first retry the tool asks the registry, hears 405 and
    fails at once with the read-only hint; after maintenance a rerun completes."""
    failed = _fail_then_rerun(
        project,
        stack,
        engine,
        code=5,
        says="405 Method Not Allowed",
        arrange=lambda: stack.restart(read_only=True),
        recover=stack.restart,
    )
    assert "retrying" not in failed.stderr
    assert "read-only or maintenance mode" in failed.stderr


# -- credentials -----------------------------------------------------------------------------------


def test_credentials_revoked_between_two_tags(
    tmp_path: Path, project: Path, engine: Engine
) -> None:
    """The registry wants a login (htpasswd); after the first tag it no longer gets one, so it
    answers 401 itself: exit 5 at once with the login hint; a rerun completes."""
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(SECRET.encode(), bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    with _stack(tmp_path / "auth-registry", htpasswd) as stack:
        proxy = stack.proxy
        first = git(project, "rev-parse", "HEAD")

        def revoke(_: faultproxy.Request) -> None:
            proxy.strip_auth()

        proxy.on(lambda r: r.is_manifest_put and r.path.endswith(f"/{first}"), revoke)
        # The revocation applies from the request after the first tag's write.
        failed = _fail_then_rerun(project, stack, engine, code=5, says="error: ")
        assert "retrying" not in failed.stderr
        assert "FLEET_REGISTRY_USERNAME" in failed.stderr
        assert SECRET not in failed.output
        assert stack.digest(first) is not None
