"""Local registry tasks: try build → push with no account, on loopback."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ..errors import InvalidPortError, PortConflictError, RegistryRunningElsewhereError
from ._common import settings, speaks_errors, whole_number

# `localregistry` is imported in each task: its HTTP client is slow to load, and `invoke --list`
# loads this module.


@task(
    help={
        "port": "port on 127.0.0.1, 1 to 65535 (default: fleet.local_registry.port, 5000)",
        "any_port": "pick any free port instead (printed on stdout)",
    }
)
@speaks_errors
def start(c: Context, port: str | None = None, any_port: bool = False) -> None:
    """Start a local registry on loopback (registry binary, else a registry:2 container)."""
    from .. import localregistry

    s = settings(c)
    if port is not None and any_port:
        raise PortConflictError(port=port)
    # Text, not int: Invoke would cast it before the task runs (a traceback for --port abc).
    wanted = whole_number(port, default=s.local_registry_port)
    if wanted is None or not 1 <= wanted <= 65535:
        raise InvalidPortError(port=port)
    running = localregistry.status(s.local_registry_dir)
    if running is not None:
        if port is not None and not any_port and running.port != wanted:
            raise RegistryRunningElsewhereError(address=running.address, port=wanted)
        console.info(f"a local registry is already running on {escape(running.address)}")
    else:
        chosen = None if any_port else wanted
        running = localregistry.start(s.local_registry_dir, chosen)
        console.info(
            f"[green]started[/] local registry on {escape(running.address)} "
            f"({escape(running.kind)})"
        )
    console.info(
        f"push to it with: invoke push --image NAME --registry {escape(running.address)}/dev"
    )
    console.out.print(running.address, markup=False)


@task(help={"keep_storage": "keep the pushed images for the next start"})
@speaks_errors
def stop(c: Context, keep_storage: bool = False) -> None:
    """Stop the local registry that `registry.start` began, and remove its storage."""
    from .. import localregistry

    s = settings(c)
    stopped = localregistry.stop(s.local_registry_dir, keep_storage=keep_storage)
    if stopped is None:
        console.info("no local registry was running")
    elif not stopped.was_running:
        console.info(
            f"the local registry on {escape(stopped.registry.address)} was not running (it had "
            "stopped on its own); cleaned up what it left"
        )
    else:
        console.info(f"[green]stopped[/] local registry on {escape(stopped.registry.address)}")


@task
@speaks_errors
def status(c: Context) -> None:
    """Say whether the local registry runs, and where."""
    from .. import localregistry

    s = settings(c)
    running = localregistry.status(s.local_registry_dir)
    if running is None:
        console.info("no local registry is running; start one with `invoke registry.start`")
    else:
        console.out.print(running.address, markup=False)
