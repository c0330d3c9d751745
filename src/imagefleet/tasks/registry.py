"""Local registry tasks: try build → push with no account, on loopback."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task
from rich.markup import escape

from .. import console
from ._common import settings, speaks_errors

# `localregistry` is imported in each task: its HTTP client is slow to load, and `invoke --list`
# loads this module.


@task(
    help={
        "port": "port on 127.0.0.1 (default: fleet.local_registry.port, 5000)",
        "any_port": "pick any free port instead (printed on stdout)",
    }
)
@speaks_errors
def start(c: Context, port: int = 0, any_port: bool = False) -> None:
    """Start a local registry on loopback (registry binary, else a registry:2 container)."""
    from .. import localregistry

    s = settings(c)
    running = localregistry.status(s.local_registry_dir)
    if running is not None:
        console.info(f"a local registry is already running on {escape(running.address)}")
    else:
        chosen = None if any_port else (port or s.local_registry_port)
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
    else:
        console.info(f"[green]stopped[/] local registry on {escape(stopped.address)}")


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
