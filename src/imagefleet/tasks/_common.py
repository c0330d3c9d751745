"""What every task shares: settings from the Invoke config, and the one place errors are spoken."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
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


def speaks_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`FleetError` into ``error:``/``hint:`` lines and an exit code; no tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        console.setup_logging()
        try:
            return func(*args, **kwargs)
        except FleetError as exc:
            console.error(exc)
            raise Exit(code=int(exc.exit_code)) from None
        except KeyboardInterrupt:
            console.err.print("[red]interrupted[/]")
            raise Exit(code=int(ExitCode.INTERRUPTED)) from None
        except Exit:
            raise
        except Exception as exc:
            if console.debug_enabled():
                traceback.print_exc()
            console.error(InternalError(kind=type(exc).__name__, error=exc))
            raise Exit(code=int(ExitCode.INTERNAL)) from None

    return wrapper


def listify(value: Any) -> list[str]:
    """Invoke gives iterable flags as lists; be tolerant of a single string too."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
