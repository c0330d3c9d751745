"""Reading build output: BuildKit's ``--progress=plain`` lines and the classic builder's stream,
down to progress titles and the typed error a failed build raises."""

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
)
_CLASSIC_STEP_RE = re.compile(r"^Step (?P<n>\d+)/(?P<total>\d+) : (?P<instr>.*)$")


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
