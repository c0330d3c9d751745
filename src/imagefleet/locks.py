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


@contextlib.contextmanager
def held(
    directory: Path,
    names: Iterable[str],
    *,
    what: str,
    on_wait: Callable[[str, str], None] | None = None,
) -> Iterator[None]:
    """Hold the locks of ``names`` (images) for the block, taken in name order so that runs
    locking overlapping sets cannot deadlock. A lock another run holds is waited for (a signal
    ends the wait); ``on_wait(name, holder)`` says so first. The kernel drops the locks of a
    process that dies, so a killed run never leaves one behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    me = f"{what} (pid {os.getpid()} on {socket.gethostname()})"
    with contextlib.ExitStack() as stack:
        for name in sorted(set(names)):
            handle = stack.enter_context((directory / f"{name}.lock").open("a+", encoding="utf-8"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait(name, _holder(handle))
                fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            handle.truncate()
            handle.write(me + "\n")
            handle.flush()
        yield
