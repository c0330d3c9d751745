"""How a run stops on SIGINT or SIGTERM: the main thread gets an exception (so every ``finally``
and cleanup runs), the child processes doing the work get SIGINT (so they cancel it themselves),
and the task exits 130 or 143."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger(__name__)

# Seconds a child told to stop has to finish its own cleanup (BuildKit cancelling a build, helm
# marking its release, pytest removing its containers) before it is killed.
GRACE = 20.0


class Terminated(BaseException):  # like KeyboardInterrupt: `except Exception` lets it by
    """SIGTERM arrived (raised from its handler, as Python raises KeyboardInterrupt for SIGINT)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


# Reentrant: the handler runs in the main thread, which may hold it when the signal comes.
_lock = threading.RLock()
_children: dict[int, subprocess.Popen[Any]] = {}  # id(proc) -> a child in its own process group
_stoppers: dict[int, Callable[[], None]] = {}  # what else a signal stops (see on_stop)
_received: list[int] = []  # the signals that arrived while handled() was active
_depth = [0]
_deferring = [0]  # deferred() blocks the main thread is in
_pending: list[int] = []  # a signal that came in a deferred() block, raised when it ends


def received() -> int | None:
    """The first SIGINT or SIGTERM of this run, if one arrived (any thread may ask)."""
    with _lock:
        return _received[0] if _received else None


def _handler(signum: int, _frame: object) -> None:
    with _lock:
        first = not _received
        _received.append(signum)
    _stop_children()
    if not first:
        return  # a second Ctrl-C must not cut the first one's cleanup short
    if _deferring[0]:
        _pending.append(signum)
        return
    _raise(signum)


def _raise(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block, a SIGINT or SIGTERM stops the children at once but raises in the main
    thread only when the block ends: for work that must not stop halfway, such as importing a
    package (one whose import a signal cut short stays broken for the rest of the run, and the
    cleanup that follows the signal may need it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1
        if not _deferring[0] and _pending:
            signum = _pending[0]
            _pending.clear()
            _raise(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Within the block (a task), SIGINT raises :class:`KeyboardInterrupt` and SIGTERM
    :class:`Terminated` in the main thread, after telling the children to stop.

    SIGINT is handled even when this process inherited it ignored (a background job of a shell
    without job control): the tool is stopped by it, like any foreground command. Outside the
    main thread (tests calling a task from a thread) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = _depth[0] == 0
    _depth[0] += 1
    previous = {}
    if outermost:
        with _lock:
            _received.clear()
            _pending.clear()
        previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        _depth[0] -= 1
        if outermost:
            for s, handler in previous.items():
                signal.signal(s, handler)


@contextlib.contextmanager
def forwarded(proc: subprocess.Popen[Any], *, late: bool = False) -> Iterator[None]:
    """While the block runs, a SIGINT or SIGTERM to this process reaches ``proc`` as SIGINT,
    sent to its process group: start it with ``process_group=0``, so it gets the signal once,
    from here, also when no terminal sent it.

    ``late``: a signal that came before the block is passed on at once. For work a worker
    thread starts while the main thread is already stopping; cleanup commands run after a
    signal (removing a lock, a tag) leave it off.
    """
    with _lock:
        _children[id(proc)] = proc
        stop_now = late and bool(_received)
    if stop_now:
        _stop(proc)
    try:
        yield
    finally:
        with _lock:
            _children.pop(id(proc), None)


@contextlib.contextmanager
def on_stop(stop: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a SIGINT or SIGTERM calls ``stop`` (in the main thread, from the
    handler): for work that is no child process, such as a build the Docker daemon runs for an
    open connection, which ``stop`` cuts. A signal that came before the block calls it at once."""
    with _lock:
        _stoppers[id(stop)] = stop
        stop_now = bool(_received)
    if stop_now:
        stop()
    try:
        yield
    finally:
        with _lock:
            _stoppers.pop(id(stop), None)


def _stop_children() -> None:
    with _lock:
        children = list(_children.values())
        stoppers = list(_stoppers.values())
    for proc in children:
        _stop(proc)
    for stop in stoppers:
        try:
            stop()
        except Exception as exc:  # the signal's own exit must still happen
            LOGGER.debug("stopping %r failed: %s", stop, exc)


def _stop(proc: subprocess.Popen[Any]) -> None:
    pid = getattr(proc, "pid", None)
    if not isinstance(pid, int) or pid <= 0:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGINT)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    grace: float = GRACE,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True)`` (stdin closed) for a child that
    must stop with the run: on SIGINT or SIGTERM it gets SIGINT (see :func:`forwarded`) and
    ``grace`` seconds to end before its process group is killed. Raises
    :class:`subprocess.TimeoutExpired` after ``timeout`` seconds (the child killed)."""
    with (
        subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else None,
            cwd=cwd,
            process_group=0,
        ) as proc,
        forwarded(proc),
    ):
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.communicate()
            raise
        except BaseException:
            reap(proc, grace)
            raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)


def reap(proc: subprocess.Popen[Any], grace: float = GRACE) -> None:
    """Wait up to ``grace`` seconds for a child told to stop (reading what it still writes, so it
    cannot block on a full pipe); then kill its process group."""
    try:
        if proc.stdout is not None or proc.stderr is not None:
            proc.communicate(timeout=grace)
        else:
            proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        LOGGER.warning("%s did not stop within %.0fs: killed", proc.args, grace)
        _kill(proc)
        proc.communicate()


def _kill(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def exit_signal(exc: BaseException) -> int:
    """The signal behind an interruption: SIGTERM for :class:`Terminated`, else SIGINT."""
    return exc.signum if isinstance(exc, Terminated) else int(signal.SIGINT)
