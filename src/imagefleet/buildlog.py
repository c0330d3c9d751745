"""Reading build output: BuildKit's ``--progress=plain`` lines (of one build or of a bake, whose
lines name their target) and the classic builder's stream, down to progress titles and the typed
error a failed build raises."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .dockerfile import substitute
from .errors import BaseImagePullError, BuildError, BuildFailedError, BuildStepError

if TYPE_CHECKING:
    from .engine import BuildRequest

TAIL_LINES = 12

_STEP_RE = re.compile(r"^#(?P<id>\d+) (?P<title>\[.+)$")
_STEP_LINE_RE = re.compile(r"^#(?P<id>\d+) (?P<rest>.*)$")
_STEP_ERROR_RE = re.compile(r"^#(?P<id>\d+) ERROR: (?P<msg>.*)$")
_METADATA_RE = re.compile(r"^\[internal\] load metadata for (?P<ref>\S+)")
_RESOLVE_RE = re.compile(r"failed to resolve source metadata for (?P<ref>\S+?):? ")
# BuildKit's bookkeeping steps: tracked for error reports, not worth a progress line.
QUIET_STEPS = (
    "[internal] load build definition",
    "[internal] load .dockerignore",
    "[internal] load build context",
    "[internal] load local bake definitions",
)
# A bake prefixes vertices with their target: `#12 [fx-base 2/3] RUN …`, `#20 [fx-base] exporting`.
_BAKE_STEP_RE = re.compile(
    r"^#(?P<id>\d+) \[(?P<target>[A-Za-z0-9_-]+)(?: (?P<inner>[^\]]*))?\] (?P<text>.*)$"
)
_WRITING_RE = re.compile(r"^#\d+ writing image (?P<id>sha256:[0-9a-f]+)")
_CLASSIC_STEP_RE = re.compile(r"^Step (?P<n>\d+)/(?P<total>\d+) : (?P<instr>.*)$")
# How a bake ends when BuildKit dropped it as a whole rather than a target failing: the daemon
# lost the job ("failed to receive status: rpc error: code = NotFound desc = no such job"), or
# the session went away ("failed to solve: Canceled: context canceled", as when the client dies;
# steps that were reading a context through it then fail with gRPC's "code = Unavailable").
DROPPED_MARKERS = ("desc = no such job", "context canceled", "code = Unavailable")
# The docker CLI exits 255 when its buildx plugin is killed, and prints nothing about it.
_CLIENT_DIED = 128


def classic_step(line: str) -> str | None:
    """The progress title (``[2/5] RUN …``) if ``line`` starts a classic builder step."""
    if match := _CLASSIC_STEP_RE.match(line):
        return f"[{match['n']}/{match['total']}] {match['instr']}"
    return None


@dataclass
class BuildLog:
    """Keeps what a failed build needs for its error: step titles and each step's last lines."""

    titles: dict[str, str] = field(default_factory=dict)
    tails: dict[str, deque[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    last: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    def feed(self, line: str) -> str | None:
        """Record one line of ``--progress=plain`` output; return a new step's title, if any."""
        self.last.append(line)
        if match := _STEP_ERROR_RE.match(line):
            self.errors[match["id"]] = match["msg"]
            return None
        if match := _STEP_RE.match(line):
            if match["id"] not in self.titles:
                self.titles[match["id"]] = match["title"]
                return match["title"]
            return None
        if match := _STEP_LINE_RE.match(line):
            rest = match["rest"]
            if rest.startswith(("DONE", "CACHED", "sha256:", "transferring", "...")):
                return None
            self.tails.setdefault(match["id"], deque(maxlen=TAIL_LINES)).append(rest)
        return None


def _named(line: str, target: str) -> str:
    """A line of a bake of one target, which names no target (like ``buildx build``), as if it
    did."""
    if match := _STEP_RE.match(line):
        if match["title"].startswith((f"[{target} ", f"[{target}]")):
            return line
        return f"#{match['id']} [{target} {match['title'][1:]}"
    if (match := _STEP_LINE_RE.match(line)) and match["rest"].startswith("exporting to "):
        return f"#{match['id']} [{target}] {match['rest']}"
    return line


def _dropped_message(text: str) -> bool:
    return any(marker in text for marker in DROPPED_MARKERS)


def buildx_failure(request: BuildRequest, log: BuildLog) -> BuildError:
    """The error for a failed ``docker buildx build``: an unpullable base, or the failed step
    with its last lines."""
    final = next((line for line in reversed(log.last) if line.startswith("ERROR:")), "")
    failed = next(iter(log.errors), None)
    title = log.titles.get(failed or "", "")
    pull_ref = None
    if (match := _METADATA_RE.match(title)) or (match := _RESOLVE_RE.search(final)):
        pull_ref = match["ref"]
    if pull_ref:
        reason = log.errors.get(failed or "", final.removeprefix("ERROR: "))
        return BaseImagePullError(image=request.image, base=pull_ref, reason=reason[:240])
    tail = list(log.tails.get(failed or "", ())) or list(log.last)
    reason = log.errors.get(failed or "", final.removeprefix("ERROR: ")) or "unknown error"
    if title:
        return BuildStepError(image=request.image, step=title, reason=reason[:300], details=tail)
    return BuildFailedError(image=request.image, reason=reason[:300], details=tail)


def classic_failure(request: BuildRequest, step: str, message: str, tail: deque[str]) -> BuildError:
    """The error for the classic builder's ``error`` event during ``step`` (tail: its output)."""
    if step and step.split("] ", 1)[-1].upper().startswith("FROM "):
        ref = substitute(step.split("] ", 1)[-1].split()[1], dict(request.from_scope))
        return BaseImagePullError(image=request.image, base=ref, reason=message.strip()[:240])
    if step:
        return BuildStepError(
            image=request.image, step=step, reason=message.strip()[:300], details=tail
        )
    return BuildFailedError(image=request.image, reason=message.strip()[:300], details=tail)


@dataclass
class BakeLog:
    """A bake's ``--progress=plain`` output split by target: a :class:`BuildLog` per target, which
    targets were exported (with the image ID written) and when each was first and last seen.

    BuildKit shares identical steps between targets and prints a shared step under one of their
    names, so a title may be filed under a sibling or a child: good for progress, and a failure
    filed under a target whose parents in the batch were not exported is not proof of anything.
    """

    targets: frozenset[str]
    logs: dict[str, BuildLog] = field(default_factory=dict)
    exported: dict[str, str | None] = field(default_factory=dict)  # target -> image ID, if printed
    first_seen: dict[str, float] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    _owners: dict[str, str] = field(default_factory=dict)  # vertex -> target it was last shown for
    _exports: dict[str, str] = field(default_factory=dict)  # export vertex -> target
    _written: dict[str, str] = field(default_factory=dict)
    _shown: set[tuple[str, str]] = field(default_factory=set)
    _own: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))  # bake's lines

    def __post_init__(self) -> None:
        for target in self.targets:
            self.logs.setdefault(target, BuildLog())

    def feed(self, line: str, now: float = 0.0) -> tuple[str, str] | None:
        """Record one line; return (target, title) when a target's step starts."""
        if len(self.targets) == 1:
            line = _named(line, next(iter(self.targets)))
        match = _BAKE_STEP_RE.match(line)
        if match and match["target"] in self.targets:
            vertex, target = match["id"], match["target"]
            self.first_seen.setdefault(target, now)
            self.last_seen[target] = now
            if match["inner"] is None and match["text"].startswith("exporting to "):
                self._exports[vertex] = target
                return None
            self._owners[vertex] = target
            title = f"[{match['inner']}] {match['text']}" if match["inner"] else match["text"]
            new = self.logs[target].feed(f"#{vertex} {title}")
            if new is None or (target, new) in self._shown:
                return None  # BuildKit may show one step as several vertices (cached, not)
            self._shown.add((target, new))
            return target, new
        vertex = line[1:].split(" ", 1)[0] if line.startswith("#") else ""
        if vertex in self._exports:
            target = self._exports[vertex]
            if found := _WRITING_RE.match(line):
                self._written[target] = found["id"]
            elif line == f"#{vertex} DONE" or line.startswith(f"#{vertex} DONE "):
                self.exported[target] = self._written.get(target)
                self.last_seen[target] = now
        elif vertex in self._owners:
            target = self._owners[vertex]
            self.last_seen[target] = now
            self.logs[target].feed(line)
        else:  # bake's own lines and the final summary: context for every target's error
            if line.strip():
                self._own.append(line)
            for log in self.logs.values():
                log.last.append(line)
        return None

    def dropped(self, code: int) -> str:
        """Why the whole bake ended with exit ``code`` without a target failing: BuildKit dropped
        the job, or the client was killed (then every image not exported may simply go again).
        Empty when bake succeeded, a target's step failed, or bake said it failed otherwise."""
        if code < 0:  # what a killed client printed last proves nothing; a retry will tell
            return f"docker buildx bake was killed by signal {-code}"
        if code == 0 or any(
            not _dropped_message(message)
            for log in self.logs.values()
            for message in log.errors.values()
        ):
            return ""
        final = next((line for line in reversed(self._own) if line.startswith("ERROR:")), "")
        if _dropped_message(final):
            return final.removeprefix("ERROR:").strip()
        if not final and code >= _CLIENT_DIED:
            return f"docker buildx bake exited {code} without an error (its client was killed)"
        return ""

    def failed(self, target: str) -> bool:
        """Whether a step filed under ``target`` reported an error of its own: a step cancelled
        because a sibling failed ("context canceled") did not fail, it did not finish."""
        return any(not _dropped_message(m) for m in self.logs[target].errors.values())
