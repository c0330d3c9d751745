"""Docs task: generate the image pages, task reference and catalog entities; build or serve."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task
from invoke.util import helpline

from .. import console
from ..console import escape
from ..errors import InvalidDevAddrError
from ._common import output_directory, settings, speaks_errors

# The generator is imported where it is used: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from .. import docs as docs_mod

# How `invoke --help` names a flag's value, by the kind Invoke parses it as.
_VALUE = {str: "STRING", int: "INT", float: "FLOAT", list: "VALUE, repeatable"}


def describe(collection: Collection) -> list[docs_mod.TaskDoc]:
    """Every task of ``collection`` as the CLI shows it: root tasks first, then collections."""
    from .. import docs as docs_mod

    names = sorted(collection.task_names, key=lambda n: ("." in n, n))
    found: list[docs_mod.TaskDoc] = []
    for name in names:
        task_obj = collection[name]
        flags = []
        # Invoke's get_arguments() pops each help text as it uses it (the CLI works on a copy
        # of the collection); leave the task as it was for the next caller.
        saved = dict(task_obj.help)
        try:
            arguments = task_obj.get_arguments()
        finally:
            task_obj.help = saved
        for argument in sorted(arguments, key=lambda a: a.names[0]):
            long_name, *short = argument.names
            default = argument.default
            shown = "" if default in (None, False, [], "") else str(default)
            flags.append(
                docs_mod.FlagDoc(
                    names=(f"--{long_name}", *(f"-{s}" for s in short)),
                    value=_VALUE.get(argument.kind, "") if argument.kind is not bool else "",
                    default=shown,
                    help=argument.help or "",
                )
            )
        found.append(
            docs_mod.TaskDoc(
                name=name,
                summary=helpline(task_obj) or "",  # exactly what `invoke --list` shows
                aliases=tuple(collection.task_names[name]),
                flags=tuple(flags),
            )
        )
    return found


def generated(root: Path, collection: Collection | None = None) -> dict[str, str]:
    """What ``invoke docs`` writes for the project at ``root`` (tests compare it with git)."""
    from .. import docs as docs_mod

    if collection is None:
        from . import namespace  # the collection this task belongs to (imported late: a cycle)

        collection = namespace()
    return docs_mod.generate(root, describe(collection))


def _check_dev_addr(addr: str) -> None:
    host, colon, port = addr.rpartition(":")
    if not (colon and host and port.isdigit() and 1 <= int(port) <= 65535):
        raise InvalidDevAddrError(addr=addr)


@task(
    help={
        "check": "only check that the generated pages and catalog-info.yml are current; "
        "write nothing, exit 8 if not",
        "serve": "serve the site with live reload (mkdocs serve) instead of building it",
        "site_dir": "where to build the site (default: site/)",
        "dev_addr": "HOST:PORT for --serve (default: 127.0.0.1:8000)",
        "no_build": "write the generated files and stop (no mkdocs)",
    }
)
@speaks_errors
def docs(
    c: Context,
    check: bool = False,
    serve: bool = False,
    site_dir: str = "site",
    dev_addr: str = "127.0.0.1:8000",
    no_build: bool = False,
) -> None:
    """Generate the image pages, task reference and catalog entities, then build the docs."""
    from .. import docs as docs_mod

    root = settings(c).root
    # Checked before a page is written: a bad flag changes nothing.
    if serve:
        _check_dev_addr(dev_addr)
    site = Path(site_dir)
    if not (check or serve or no_build):
        site = output_directory("--site-dir", str(site if site.is_absolute() else root / site))
    pages = generated(root)
    if check:
        drift = docs_mod.check(root, pages)
        if drift:
            raise docs_mod.drift_error(drift)
        console.info(f"[green]current[/]: {len(pages)} generated files match the code")
        return
    for item in docs_mod.write(root, pages):
        verb = "removed" if item.state == "orphaned" else "wrote"
        console.info(f"[green]{verb}[/] {escape(str(item.path))}")
    if no_build:
        return
    if serve:
        docs_mod.serve_site(root, dev_addr)
        return
    docs_mod.build_site(root, site)
    console.info(f"[green]built[/] {escape(site_dir)}/index.html")
