"""How output looks: progress and messages on stderr (rich), machine output on stdout.

On a terminal, long work shows a live line (image, step, elapsed); in CI logs (no TTY) one line
per step, so logs stay short. Known secret values are masked in everything printed or logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import FleetError

SECRET_ENV = ("FLEET_REGISTRY_PASSWORD",)
DEBUG_ENV = "FLEET_DEBUG"

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def debug_enabled() -> bool:
    """``FLEET_DEBUG=1`` shows debug logs and tracebacks of unexpected errors."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")


def redact(text: str) -> str:
    """Mask the values of known secret environment variables."""
    for name in SECRET_ENV:
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


def emit_json(data: Any) -> None:
    """Machine output: JSON on stdout, nothing else there."""
    print(redact(json.dumps(data, indent=2, sort_keys=False)))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table on stdout."""
    result = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(escape(redact(c)) for c in row))
    out.print(result)


class Step:
    """Reports the steps of one long operation on one image."""

    def __init__(self, progress: Progress | None, task_id: Any, label: str) -> None:
        self._progress = progress
        self._task = task_id
        self._label = label
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the operation started."""
        return time.monotonic() - self.started

    def __call__(self, step: str) -> None:
        step = redact(step)
        if self._progress is not None:
            self._progress.update(self._task, description=f"{self._label} {escape(step[:80])}")
        else:
            err.print(f"  {escape(self._label)} {escape(step[:120])}  [dim]+{self.elapsed:.1f}s[/]")


@contextmanager
def working(label: str) -> Iterator[Step]:
    """A live spinner with elapsed time on a terminal; plain step lines otherwise."""
    if err.is_terminal:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task_id = progress.add_task(escape(label), total=None)
            yield Step(progress, task_id, escape(label))
    else:
        err.print(f"{escape(label)} …")
        yield Step(None, None, label)
