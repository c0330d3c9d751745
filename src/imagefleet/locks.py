"""Per-image locks between runs of one checkout: a build or push of an image waits for another
run's build or push of it (``fcntl`` lock files in the checkout's directory of the user's cache,
:attr:`Settings.locks_dir`, never in the tree)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "another run"


# File times come from the kernel's coarse clock, a few milliseconds behind time.time().
_CLOCK_SLACK = 0.05


@contextlib.contextmanager
def held(
    directory: Path,
    names: Iterable[str],
    *,
    what: str,
    on_wait: Callable[[str, str], None] | None = None,
    since: float | None = None,
) -> Iterator[bool]:
    """Hold the locks of ``names`` (images) for the block, taken in name order so that runs
    locking overlapping sets cannot deadlock. A lock another run holds is waited for (a signal
    ends the wait); ``on_wait(name, holder)`` says so first. The kernel drops the locks of a
    process that dies, so a killed run never leaves one behind.

    The block gets whether another run held one of the locks after ``since`` (a ``time.time()``):
    it was waited for, or released since (a run empties its lock files as it lets go), so what
    was read of the images before then may be out of date.
    """
    directory.mkdir(parents=True, exist_ok=True)
    me = f"{what} (pid {os.getpid()} on {socket.gethostname()})"
    others = False
    with contextlib.ExitStack() as stack:
        for name in sorted(set(names)):
            handle = stack.enter_context((directory / f"{name}.lock").open("a+", encoding="utf-8"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                others = True
                if on_wait is not None:
                    on_wait(name, _holder(handle))
                fcntl.flock(handle, fcntl.LOCK_EX)
            if since is not None and os.fstat(handle.fileno()).st_mtime >= since - _CLOCK_SLACK:
                others = True
            handle.seek(0)
            handle.truncate()
            handle.write(me + "\n")
            handle.flush()
            stack.callback(handle.truncate, 0)  # the release's time, for the next run's `since`
        yield others
