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
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from .errors import FleetError

# rich is imported where it is first used: every CLI start (`invoke --list` too) imports this
# module, rich takes about 15 ms to load, and a build's bakes start before its first line.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    err: Console  # stderr: progress, messages, errors
    out: Console  # stdout: reports

SECRET_ENV = ("FLEET_REGISTRY_PASSWORD", "FLEET_NOTIFY_URLS")
DEBUG_ENV = "FLEET_DEBUG"

_STREAMS = ("err", "out")


def __getattr__(name: str) -> Any:
    """``err`` and ``out``, the rich consoles on stderr and stdout, made on first use."""
    if name not in _STREAMS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    # No emoji codes: user text (descriptions, Dockerfile lines, build logs) is data, and
    # `:smile:` in it must print as written. Markup is ours; every value put into a markup
    # string is escaped.
    made = Console(stderr=name == "err", highlight=False, soft_wrap=True, emoji=False)
    globals()[name] = made
    return made


def _console(name: str) -> Console:
    found: Console | None = globals().get(name)
    return found if found is not None else __getattr__(name)


def escape(markup: str) -> str:
    """``markup`` with the square brackets rich would read as tags escaped (rich's own rule)."""
    from rich.markup import escape as rich_escape

    return rich_escape(markup)


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


class _Handler(logging.Handler):
    """The package's log handler: rich's, on stderr, made with the first record it shows (most
    runs show none, and rich's handler is slow to load)."""

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            self._rich = RichHandler(
                console=_console("err"),
                show_time=False,
                show_path=False,
                markup=False,
                rich_tracebacks=False,
            )
        self._rich.emit(record)


def setup_logging() -> None:
    """Route the package's logs through rich on stderr (warnings and up, or debug)."""
    logger = logging.getLogger("imagefleet")
    if any(isinstance(h, _Handler) for h in logger.handlers):
        return
    handler = _Handler()
    handler.addFilter(_RedactFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug_enabled() else logging.WARNING)
    logger.propagate = False


def error(exc: FleetError) -> None:
    """``error: …`` then context lines, then ``hint: …``."""
    err = _console("err")
    err.print(f"[bold red]error:[/] {escape(redact(exc.message))}")
    for line in exc.details:
        err.print(f"  [dim]{escape(redact(line))}[/]")
    if exc.hint:
        err.print(f"[yellow]hint:[/] {escape(redact(exc.hint))}")


def info(message: str) -> None:
    """A progress or result line on stderr."""
    _console("err").print(redact(message))


def emit(text: str) -> None:
    """Machine output (a report): text on stdout, nothing else there, secrets masked."""
    print(redact(text))


def lines(text: Sequence[str]) -> None:
    """Human output on stdout, printed literally (never read as markup): many lines at once."""
    joined = redact("\n".join(text))
    out = _console("out")
    if out.is_terminal:
        from rich.text import Text

        out.print(Text(joined))
    elif joined:
        out.file.write(joined + "\n")
        out.file.flush()


def emit_json(data: Any) -> None:
    """Machine output: JSON on stdout, nothing else there (indented for a terminal; compact,
    which is several times faster to write, for a program)."""
    emit(json.dumps(data, indent=2 if _console("out").is_terminal else None, sort_keys=False))


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
    _console("err" if stderr else "out").print(result)


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
            _console("err").print(
                f"  {escape(self._label)} {escape(step[:120])}  [dim]+{self.elapsed:.1f}s[/]"
            )

    def close(self) -> None:
        """Remove the live line (a terminal); nothing to do in plain logs."""
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)


class Board:
    """Live lines for operations running at the same time (one per image), or plain lines. The
    live display (on a terminal) starts with the first line, inside ``stack``."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._progress: Progress | None = None
        self._started = False

    def _live(self) -> Progress | None:
        if not self._started:
            self._started = True
            err = _console("err")
            if err.is_terminal:
                from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

                self._progress = self._stack.enter_context(
                    Progress(
                        SpinnerColumn(),
                        TextColumn("{task.description}", markup=False),
                        TimeElapsedColumn(),
                        console=err,
                        transient=True,
                    )
                )
        return self._progress

    def start(self, label: str) -> Step:
        """Report one operation until its :meth:`Step.close` (for callers without a ``with``)."""
        progress = self._live()
        if progress is None:
            _console("err").print(f"{escape(label)} …")
        return Step(progress, label)

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
    """A live board with spinners and elapsed times on a terminal; plain step lines otherwise.
    Nothing is shown (and rich is not loaded) before the first line."""
    with ExitStack() as stack:
        yield Board(stack)


@contextmanager
def working(label: str) -> Iterator[Step]:
    """One operation on its own board."""
    with board() as live, live.step(label) as step:
        yield step
