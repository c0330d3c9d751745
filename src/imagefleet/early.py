"""Questions a build asks first, put while the tool is still importing (ADR 20).

``invoke build`` spends most of its time before BuildKit importing its modules (CPU), and then
asks git and the daemon a few questions one after another (waiting on other processes): the
checkout's state and release tags, and which images the daemon holds. Those answers depend on
nothing the imports make, so the task puts the questions as it starts, each in a thread, and
takes the answers where they are needed. A question nobody takes costs a thread and a read.

An answer is taken once (a later question is asked again), and an early question that failed is
asked again where it is taken, so its error is raised where it always was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

T = TypeVar("T")


class _Asked(threading.Thread):
    def __init__(self, question: Callable[[], object]) -> None:
        super().__init__(name="early", daemon=True)
        self._question = question
        self.answer: object = None
        self.failed = False

    def run(self) -> None:
        try:
            self.answer = self._question()
        except Exception:  # asked again where taken, which raises it there
            self.failed = True


_LOCK = threading.Lock()
_ASKED: dict[Hashable, _Asked] = {}
_SINCE: list[float] = []  # when the first question still held was put (time.time())


def ask(key: Hashable, question: Callable[[], object]) -> None:
    """Start answering ``question`` in a thread, for :func:`take` under the same ``key``."""
    with _LOCK:
        if key not in _ASKED:
            if not _ASKED:
                _SINCE[:] = [time.time()]
            _ASKED[key] = asked = _Asked(question)
            asked.start()


def take(key: Hashable, question: Callable[[], T]) -> T:
    """The early answer under ``key`` (waiting for it if need be), else ``question()`` now."""
    with _LOCK:
        asked = _ASKED.pop(key, None)
    if asked is not None:
        asked.join()
        if not asked.failed:
            return cast(T, asked.answer)
    return question()


def since() -> float | None:
    """When the oldest question still held was put (``time.time()``), or ``None``."""
    with _LOCK:
        return _SINCE[0] if _ASKED else None


def forget() -> None:
    """Drop every early answer: what was asked may have changed since (another run held the
    images' locks meanwhile)."""
    with _LOCK:
        _ASKED.clear()
