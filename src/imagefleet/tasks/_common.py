"""What every task shares: settings from the Invoke config, and the one place errors are spoken."""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit

from .. import console
from ..errors import ExitCode, FleetError, InternalError
from ..settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


def settings(c: Context) -> Settings:
    """The frozen settings for this invocation (defaults → invoke.yaml → INVOKE_FLEET_* env)."""
    return Settings.from_config(dict(c.config.get("fleet", {})))


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

        try:
            return func(*args, **kwargs)
        except FleetError as exc:
            raise speak(exc) from None
        except KeyboardInterrupt:
            console.err.print("[red]interrupted[/]")
            if as_json:
                code = int(ExitCode.INTERRUPTED)
                console.emit_json(failure(code, "interrupted", "", _PARTIAL.get()))
            raise Exit(code=int(ExitCode.INTERRUPTED)) from None
        except Exit:
            raise
        except Exception as exc:
            if console.debug_enabled():
                traceback.print_exc()
            raise speak(InternalError(kind=type(exc).__name__, error=exc)) from None
        finally:
            _PARTIAL.reset(token)

    return wrapper


def listify(value: Any) -> list[str]:
    """Invoke gives iterable flags as lists; be tolerant of a single string too."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
