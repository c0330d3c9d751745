"""Signals stop a task: the main thread raises, children in their own process group get SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from imagefleet import signals


@pytest.fixture(autouse=True)
def _forget_signals() -> Iterator[None]:
    """A signal a test sent must not make later tests' runs look stopped (``received()``): a
    new outermost ``handled()`` block starts afresh."""
    yield
    with signals.handled():
        pass


def _signalled(signum: int, cleaned: list[str]) -> None:
    """A task body that gets ``signum`` and has cleanup to run."""
    with signals.handled():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)
        finally:
            cleaned.append("cleaned")


def test_sigterm_raises_terminated_so_cleanup_runs() -> None:
    cleaned: list[str] = []
    with pytest.raises(signals.Terminated):
        _signalled(signal.SIGTERM, cleaned)
    assert cleaned == ["cleaned"]
    assert signals.received() == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigint_is_handled_even_when_inherited_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    cleaned: list[str] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            _signalled(signal.SIGINT, cleaned)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert cleaned == ["cleaned"]


# The child traps SIGINT, says so and exits 3: it ran its own cleanup.
_CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(3))\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def _child_stopped() -> int:
    with (
        signals.handled(),
        subprocess.Popen(
            [sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True, process_group=0
        ) as proc,
        signals.forwarded(proc),
    ):
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            signals.reap(proc, grace=10)
    return -1


def test_a_child_gets_sigint_and_time_to_finish() -> None:
    started = time.monotonic()
    with pytest.raises(signals.Terminated):
        _child_stopped()
    assert time.monotonic() - started < 5


def test_run_returns_output_like_subprocess_run() -> None:
    done = signals.run([sys.executable, "-c", "print('out')"])
    assert (done.returncode, done.stdout) == (0, "out\n")


def test_a_signal_calls_what_on_stop_registered_and_only_while_registered() -> None:
    """Work that is no child process (a build the daemon runs for an open connection) is stopped
    by a callback; one registered after the signal came is called at once."""
    calls: list[str] = []
    with signals.handled():
        with signals.on_stop(lambda: calls.append("first")):
            pass  # left before any signal: never called
        with pytest.raises(signals.Terminated), signals.on_stop(lambda: calls.append("during")):
            _sigterm_self()
        with signals.on_stop(lambda: calls.append("late")):
            pass
    assert calls == ["during", "late"]


def _sigterm_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)


def _deferred_body(done: list[str]) -> None:
    with signals.handled():
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now: it must not have raised
            done.append("finished")
        done.append("not reached")


def test_a_deferred_block_finishes_before_the_signal_raises() -> None:
    """What must not stop halfway (importing a package) runs to its end; the signal raises as
    the block ends, and only once."""
    done: list[str] = []
    with pytest.raises(signals.Terminated):
        _deferred_body(done)
    assert done == ["finished"]
    assert signals.received() == signal.SIGTERM


def test_the_docker_sdk_import_is_whole_after_a_signal_mid_import() -> None:
    """A SIGTERM while the Docker SDK is first imported (sent as it reaches `docker.transport`,
    a point where an import cut short leaves `docker` without its `errors`): the run still
    stops, and the SDK the cleanup then uses is whole."""
    script = (
        "import importlib.abc, os, signal, sys, time\n"
        "from imagefleet import dockersdk, signals\n"
        "class Mid(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'docker.transport':\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "sys.meta_path.insert(0, Mid())\n"
        "try:\n"
        "    with signals.handled():\n"
        "        dockersdk.sdk()\n"
        "        time.sleep(5)\n"
        "except signals.Terminated:\n"
        "    print('stopped', dockersdk.sdk().errors.ImageNotFound.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "stopped ImageNotFound", done.stderr
