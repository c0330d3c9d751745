"""A ``docker run`` on this terminal: the docker CLI attached, Ctrl-C and SIGTERM turned into a
stop of the container, and the container removed whatever happens."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

from .errors import DockerCliMissingError

LOGGER = logging.getLogger(__name__)

GRACE = 5  # seconds a stopped command has to finish before it is killed


class _Terminated(BaseException):  # like KeyboardInterrupt: `except Exception` lets it by
    """SIGTERM arrived (raised from its handler, as Python raises KeyboardInterrupt for SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def run(argv: Sequence[str], container: str, *, grace: int = GRACE) -> int:
    """Run ``argv`` (a ``docker run --rm --name container …``) attached to this terminal; return
    its exit code: the command's, or docker run's own 125-127.

    The docker CLI, not the SDK: it puts the terminal in raw mode, passes resizes and stdin,
    and forwards signals. On Ctrl-C or SIGTERM the container is stopped (SIGTERM, ``grace``
    seconds, then SIGKILL) and 128 + the signal's number is returned. Afterwards the container
    is gone in every case, also one the CLI created but never started.
    """
    if shutil.which("docker") is None:
        raise DockerCliMissingError()
    LOGGER.debug("run: %s", " ".join(argv))
    proc = subprocess.Popen(list(argv))
    try:
        with _terminate_raises():
            return proc.wait()
    except (KeyboardInterrupt, _Terminated) as exc:
        with _signals_ignored():  # a second Ctrl-C must not cut the cleanup short
            _docker("stop", "--time", str(grace), container)
        return 128 + (exc.signum if isinstance(exc, _Terminated) else int(signal.SIGINT))
    finally:
        with _signals_ignored():
            _reap(proc, grace + 10)  # once the CLI has ended, nothing can create the container
            _remove(container)


def _docker(*args: str) -> int:
    return subprocess.run(
        ["docker", *args], capture_output=True, check=False, stdin=subprocess.DEVNULL
    ).returncode


def _remove(container: str, wait: float = 15.0) -> None:
    """Remove ``container`` and wait until it is gone (``--rm`` may be removing it already)."""
    deadline = time.monotonic() + wait
    while _docker("container", "inspect", container) == 0:
        _docker("rm", "--force", container)
        if time.monotonic() > deadline:
            LOGGER.warning("container %s is still there: remove it with docker rm -f", container)
            return
        time.sleep(0.2)


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for ``proc``; kill it when it does not end within ``timeout`` seconds."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`_Terminated` (the main thread only)."""

    def handler(signum: int, _frame: object) -> None:
        raise _Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are ignored: the cleanup runs to its end."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
