"""Doubles for the deploy seams: a scripted helm/kubectl runner, a clock that never sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imagefleet.deploy.helm import Completed
from imagefleet.deploy.lease import Clock

Reply = Completed | Callable[[list[str]], Completed]

MOUNT = "/runner"  # where the fake runner "sees" this machine's files


def ok(stdout: str | Any = "") -> Completed:
    """A successful command; non-strings are printed as JSON (helm and kubectl ``-o json``)."""
    return Completed(0, stdout if isinstance(stdout, str) else json.dumps(stdout), "")


def fail(stderr: str, code: int = 1) -> Completed:
    """A failed command with helm's/kubectl's ``Error: …`` on stderr."""
    return Completed(code, "", stderr)


@dataclass
class _Rule:
    prefix: tuple[str, ...]
    replies: list[Reply]
    used: int = 0


@dataclass
class FakeRunner:
    """Scripted helm and kubectl: the newest rule whose words start argv answers; argv recorded.

    A rule with several replies gives them in order and then repeats the last one. A command that
    no rule matches fails the test: every call the code makes must be expected.
    """

    rules: list[_Rule] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def on(self, *prefix: str, reply: Reply | Sequence[Reply]) -> FakeRunner:
        """Answer commands starting with ``prefix`` (later rules win over earlier ones)."""
        replies = list(reply) if isinstance(reply, Sequence) else [reply]
        self.rules.append(_Rule(prefix, replies))
        return self

    def run(self, argv: Sequence[str], *, timeout: float = 600) -> Completed:
        """Record ``argv`` and answer from the newest matching rule."""
        words = list(argv)
        self.calls.append(words)
        self.timeouts.append(timeout)
        for rule in reversed(self.rules):
            if tuple(words[: len(rule.prefix)]) == rule.prefix:
                reply = rule.replies[min(rule.used, len(rule.replies) - 1)]
                rule.used += 1
                return reply(words) if callable(reply) else reply
        raise AssertionError(f"unexpected command: {' '.join(words)}")

    def path(self, host: Path) -> str:
        """Files appear under :data:`MOUNT`, so tests see which arguments went through here."""
        return f"{MOUNT}{host}"

    def commands(self, *prefix: str) -> list[list[str]]:
        """The recorded calls starting with ``prefix``."""
        return [c for c in self.calls if tuple(c[: len(prefix)]) == prefix]

    def verbs(self) -> list[str]:
        """``tool verb`` of each call, in order (``helm upgrade``, ``kubectl create``)."""
        return [" ".join(c[:2]) for c in self.calls]


START = datetime(2025, 1, 2, 12, 0, 0, tzinfo=UTC)


class FakeClock(Clock):
    """Starts at :data:`START`; ``sleep`` records the pause and moves both clocks on."""

    def __init__(self, start: datetime = START) -> None:
        self.wall = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.wall += timedelta(seconds=seconds)
        self.elapsed += seconds
