"""How output looks: progress and messages on stderr (rich), machine output on stdout.

On a terminal, long work shows a live line (image, step, elapsed); in CI logs (no TTY) one line
per step, so logs stay short. Known secret values are masked in everything printed or logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from .errors import FleetError

# Progress, tables and the log handler are imported where they are used: every CLI start
# (`invoke --list` too) imports this module, and they are slow to load.
if TYPE_CHECKING:
    from rich.progress import Progress

SECRET_ENV = ("FLEET_REGISTRY_PASSWORD", "FLEET_NOTIFY_URLS")
DEBUG_ENV = "FLEET_DEBUG"

# No emoji codes: user text (descriptions, Dockerfile lines, build logs) is data, and `:smile:`
# in it must print as written. Markup is ours; every value put into a markup string is escaped.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
out = Console(highlight=False, soft_wrap=True, emoji=False)


def debug_enabled() -> bool:
    """``FLEET_DEBUG=1`` shows debug logs and tracebacks of unexpected errors."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")


_MASKED: set[str] = set()  # more variables whose values are masked: the runs' build secrets


def mask(names: Iterable[str]) -> None:
    """Mask the values of these environment variables too (build secrets), from now on: a step
    that prints its secret must not have the tool repeat it in an error's log tail."""
    _MASKED.update(names)


def redact(text: str) -> str:
    """Mask the values of known secret environment variables."""
    for name in (*SECRET_ENV, *sorted(_MASKED)):
        secret = os.environ.get(name)
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def setup_logging() -> None:
    """Route the package's logs through rich on stderr (warnings and up, or debug)."""
    from rich.logging import RichHandler

    logger = logging.getLogger("imagefleet")
    if any(isinstance(h, RichHandler) for h in logger.handlers):
        return
    handler = RichHandler(
        console=err, show_time=False, show_path=False, markup=False, rich_tracebacks=False
    )
    handler.addFilter(_RedactFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug_enabled() else logging.WARNING)
    logger.propagate = False


def error(exc: FleetError) -> None:
    """``error: …`` then context lines, then ``hint: …``."""
    err.print(f"[bold red]error:[/] {escape(redact(exc.message))}")
    for line in exc.details:
        err.print(f"  [dim]{escape(redact(line))}[/]")
    if exc.hint:
        err.print(f"[yellow]hint:[/] {escape(redact(exc.hint))}")


def info(message: str) -> None:
    """A progress or result line on stderr."""
    err.print(redact(message))


def emit(text: str) -> None:
    """Machine output (a report): text on stdout, nothing else there, secrets masked."""
    print(redact(text))


def lines(text: Sequence[str]) -> None:
    """Human output on stdout, printed literally (never read as markup): many lines at once."""
    joined = redact("\n".join(text))
    if out.is_terminal:
        from rich.text import Text

        out.print(Text(joined))
    elif joined:
        out.file.write(joined + "\n")
        out.file.flush()


def emit_json(data: Any) -> None:
    """Machine output: JSON on stdout, nothing else there (indented for a terminal; compact,
    which is several times faster to write, for a program)."""
    emit(json.dumps(data, indent=2 if out.is_terminal else None, sort_keys=False))


def table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, stderr: bool = False
) -> None:
    """A table on stdout (on stderr when stdout carries JSON); cells are printed literally."""
    from rich.table import Table
    from rich.text import Text

    result = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(Text(redact(c)) for c in row))
    (err if stderr else out).print(result)


class Step:
    """Reports the steps of one long operation on one image."""

    def __init__(self, progress: Progress | None, label: str) -> None:
        self._progress = progress
        self._label = label
        # The live line's column prints descriptions literally (markup=False): no escaping there.
        self._task = progress.add_task(label, total=None) if progress else None
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the operation started."""
        return time.monotonic() - self.started

    def __call__(self, step: str) -> None:
        step = redact(step)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self._label} {step[:80]}")
        else:
            err.print(f"  {escape(self._label)} {escape(step[:120])}  [dim]+{self.elapsed:.1f}s[/]")

    def close(self) -> None:
        """Remove the live line (a terminal); nothing to do in plain logs."""
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)


class Board:
    """Live lines for operations running at the same time (one per image), or plain lines."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def start(self, label: str) -> Step:
        """Report one operation until its :meth:`Step.close` (for callers without a ``with``)."""
        if self._progress is None:
            err.print(f"{escape(label)} …")
        return Step(self._progress, label)

    @contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """Report one operation; its line goes away when it ends."""
        step = self.start(label)
        try:
            yield step
        finally:
            step.close()


@contextmanager
def board() -> Iterator[Board]:
    """A live board with spinners and elapsed times on a terminal; plain step lines otherwise."""
    if err.is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            yield Board(progress)
    else:
        yield Board(None)


@contextmanager
def working(label: str) -> Iterator[Step]:
    """One operation on its own board."""
    with board() as live, live.step(label) as step:
        yield step
