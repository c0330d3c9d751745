"""What every task shares: settings from the Invoke config, and the one place errors are spoken."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from invoke import config as invoke_config
from invoke.context import Context
from invoke.env import Environment
from invoke.exceptions import Exit

from .. import console, early, locks, signals
from ..console import escape
from ..errors import ExitCode, FleetError, GithubOutputUnsetError, InternalError, OutputPathError
from ..settings import Settings, root_directory

P = ParamSpec("P")
R = TypeVar("R")


def settings(c: Context) -> Settings:
    """The frozen settings for this invocation (defaults → invoke.yaml → INVOKE_FLEET_* env),
    checked once: a bad value is an ``error:`` naming the setting and its source, exit 2."""
    return Settings.from_config(c.config.get("fleet", {}), environ=os.environ)


def ask_early(c: Context) -> None:
    """Put the questions every build asks first (the checkout's state and tags, the daemon's
    images) to git and the daemon now, in threads, while the modules the task needs import
    (ADR 20). The root is the one the settings will name, unchecked: a wrong guess is never
    taken."""
    from .. import git
    from ..enginesocket import ask_images

    fleet = c.config.get("fleet") or {}
    root = fleet.get("root") if hasattr(fleet, "get") else None
    if root is None or isinstance(root, str):
        git.ask_early(root_directory(root))
    ask_images()


@contextlib.contextmanager
def locked_for_build(s: Settings, names: list[str]) -> Iterator[None]:
    """The images' locks; what was asked early (see :func:`ask_early`) is asked again when
    another run held one of them meanwhile: it may have built them."""
    with locks.held(
        s.locks_dir, names, what="invoke build", on_wait=waiting, since=early.since()
    ) as others:
        if others:
            early.forget()
        yield


class _FleetEnvironment(Environment):
    """Invoke's reader of ``INVOKE_*`` variables, handing ``INVOKE_FLEET_*`` values over as the
    strings they are. Invoke casts a value by the type of the setting it replaces, before any
    task runs: ``INVOKE_FLEET_PUSH_ATTEMPTS=abc`` was a traceback, and a list setting cannot be
    set at all. :meth:`Settings.from_config` casts and checks them instead (lists
    comma-separated), naming the variable when one is wrong."""

    def _path_set(self, key_path: Sequence[str], value: str) -> None:
        if not key_path or key_path[0] != "fleet":
            super()._path_set(key_path, value)
            return
        data = self.data
        for key in key_path[:-1]:
            data = data.setdefault(key, {})
        data[key_path[-1]] = value


def read_fleet_environment_as_text() -> None:
    """Make Invoke read ``INVOKE_FLEET_*`` variables as text (see :class:`_FleetEnvironment`).

    Invoke builds its reader from ``invoke.config.Environment`` for each task it runs; the
    ``invoke`` program offers no other hook a ``tasks.py`` can reach.
    """
    invoke_config.Environment = _FleetEnvironment  # type: ignore[attr-defined]


_INVOKE_MERGE = invoke_config.merge_dicts


def _merge_dicts(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    """Invoke's merge of two config levels, except that under ``fleet:`` a later level's value
    replaces an earlier one of another shape (a mapping and a scalar): Invoke would raise
    before any task runs (a traceback for ``push: 3`` in ``invoke.yaml``), while
    :meth:`Settings.from_config` refuses the value cleanly, naming the setting."""
    fleet = (updates or {}).get("fleet")
    if "fleet" in base and fleet is not None:
        if isinstance(base["fleet"], dict) and isinstance(fleet, dict):
            _drop_other_shapes(base["fleet"], fleet)
        elif isinstance(base["fleet"], dict) or isinstance(fleet, dict):
            del base["fleet"]
    return _INVOKE_MERGE(base, updates)


def _drop_other_shapes(base: dict[str, Any], updates: dict[str, Any]) -> None:
    for key, value in updates.items():
        if key not in base:
            continue
        if isinstance(base[key], dict) and isinstance(value, dict):
            _drop_other_shapes(base[key], value)
        elif isinstance(base[key], dict) or isinstance(value, dict):
            del base[key]


def tolerate_fleet_shapes() -> None:
    """Make Invoke's config merge leave a wrongly shaped ``fleet:`` value to the settings check
    (see :func:`_merge_dicts`); like :func:`read_fleet_environment_as_text`, a patch of the
    ``invoke`` program's module, which offers no hook for it."""
    invoke_config.merge_dicts = _merge_dicts


# What a run has produced so far (per-image results), for the JSON object a failing --json run
# prints; None outside a task.
_PARTIAL: ContextVar[dict[str, Any] | None] = ContextVar("partial_results", default=None)


def partial(**results: Any) -> None:
    """Record what the run has produced so far (e.g. ``images=[...]``): a failing ``--json`` run
    prints it beside its error, in one JSON object."""
    current = _PARTIAL.get()
    if current is not None:
        current.update(results)


def failure(code: int, message: str, hint: str, results: dict[str, Any] | None = None) -> Any:
    """The one JSON object a failing ``--json`` run prints on stdout."""
    return {"error": {"code": code, "message": message, "hint": hint}, **(results or {})}


def _wants_json(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the run was asked for JSON on stdout (``--json``, or lint's ``--format json``
    without ``--output``)."""
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs).arguments
    except TypeError:
        return False
    if bound.get("json") is True:
        return True
    return bound.get("format") == "json" and not bound.get("output")


def speaks_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`FleetError` into ``error:``/``hint:`` lines and an exit code; no tracebacks.

    A ``--json`` run that fails also prints one JSON object on stdout: ``{"error": {"code",
    "message", "hint"}}`` plus whatever the task recorded with :func:`partial`.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        console.setup_logging()
        as_json = _wants_json(func, args, kwargs)
        token = _PARTIAL.set({})

        def speak(exc: FleetError) -> Exit:
            console.error(exc)
            if as_json:
                console.emit_json(
                    failure(int(exc.exit_code), exc.message, exc.hint, _PARTIAL.get())
                )
            return Exit(code=int(exc.exit_code))

        def stopped(signum: int) -> Exit:
            terminated = signum == signal.SIGTERM
            code = int(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED)
            word = "terminated" if terminated else "interrupted"
            console.err.print(f"[red]{word}[/]")
            if as_json:
                console.emit_json(failure(code, word, "", _PARTIAL.get()))
            return Exit(code=code)

        try:
            with signals.handled():
                return func(*args, **kwargs)
        except FleetError as exc:
            # A failure that a signal caused (a child told to stop) is the signal's exit.
            signum = signals.received()
            raise (speak(exc) if signum is None else stopped(signum)) from None
        except (KeyboardInterrupt, signals.Terminated) as exc:
            raise stopped(signals.exit_signal(exc)) from None
        except Exit:
            raise
        except Exception as exc:
            if console.debug_enabled():
                traceback.print_exc()
            raise speak(InternalError(kind=type(exc).__name__, error=exc)) from None
        finally:
            _PARTIAL.reset(token)
            early.forget()  # answers asked early are this task's: the next one asks again

    return wrapper


def waiting(image: str, holder: str) -> None:
    """Say that a run waits for another one's lock on ``image``."""
    console.info(f"[yellow]waiting[/] for {escape(holder)}: it holds {escape(image)}")


def whole_number(value: str | int | None, default: int) -> int | None:
    """A numeric flag, taken as text: Invoke's own cast of ``--jobs abc`` is a traceback before
    the task runs. ``None`` when it is not a whole number (the task refuses it, naming the flag);
    ``default`` when the flag was not given."""
    if value is None:
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def listify(value: Any) -> list[str]:
    """Invoke gives iterable flags as lists; be tolerant of a single string too."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def require_github_output() -> Path:
    """``$GITHUB_OUTPUT``'s file; a usage error outside GitHub Actions (checked before a task
    changes anything, by tasks that write outputs only at their end)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        raise GithubOutputUnsetError()
    return Path(path)


def github_output(values: Mapping[str, str]) -> None:
    """Append ``key=value`` lines to ``$GITHUB_OUTPUT`` (the one writer every ``--github-output``
    goes through); a usage error outside GitHub Actions. Values are single-line (JSON)."""
    with require_github_output().open("a", encoding="utf-8") as out:
        out.writelines(f"{key}={value}\n" for key, value in values.items())


def step_summary(markdown: str) -> None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when it is set (silently not, elsewhere)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(markdown)


def output_directory(flag: str, value: str) -> Path:
    """The directory a ``flag`` names for a task to write into, resolved; refused (exit 2,
    before anything runs) when it, or a directory it would be made in, is not a directory."""
    path = Path(value).resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "it" if existing == path else str(existing)
        raise OutputPathError(
            flag=flag,
            path=value,
            reason=f"{where} is not a directory",
            expected="give a directory (it is created when missing)",
        )
    return path


def output_file(flag: str, value: str) -> Path:
    """The file a ``flag`` names for a task to write, resolved; refused (exit 2, before anything
    runs) when it is a directory or its directory does not exist."""
    path = Path(value).resolve()
    if path.is_dir():
        reason, expected = "it is a directory", "name a file, e.g. report.json"
    elif not path.parent.is_dir():
        reason = f"{path.parent} is not a directory"
        expected = "name a file in a directory that exists"
    else:
        return path
    raise OutputPathError(flag=flag, path=value, reason=reason, expected=expected)
