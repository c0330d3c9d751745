"""The task reference page: every Invoke task and flag, as ``invoke --list`` and ``--help`` say.

The task layer describes its collection as :class:`TaskDoc` records (this package does not import
Invoke); :func:`tasks_page` turns them into ``docs/reference/tasks.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import markdown as md

TASKS_PAGE = "docs/reference/tasks.md"


@dataclass(frozen=True)
class FlagDoc:
    """One flag of a task, as ``invoke --help TASK`` shows it."""

    names: tuple[str, ...]  # e.g. ("--build-arg", "-u")
    value: str  # "" for on/off flags, else STRING, INT, … ("repeatable" when it is)
    default: str  # "" when there is none worth showing
    help: str


@dataclass(frozen=True)
class TaskDoc:
    """One task of the Invoke collection: what ``invoke --list`` and ``--help`` say about it."""

    name: str
    summary: str
    aliases: tuple[str, ...] = ()
    flags: tuple[FlagDoc, ...] = ()


def tasks_page(tasks: Sequence[TaskDoc]) -> str:
    """Every task with its one-line help and every flag with its help, as the CLI shows them."""
    lines = [
        md.NOTE.format(source="the Invoke collection (src/imagefleet/tasks/)"),
        "",
        "# Task reference",
        "",
        "Generated from the task collection itself (`imagefleet.tasks.namespace()`): the text is "
        "what `invoke --list` and `invoke --help TASK` print, so it cannot drift from the code.",
        "",
        *md.table(
            ("task", "what it does"),
            ((f"[{t.name}](#{_anchor(t.name)})", md.text(t.summary)) for t in tasks),
        ),
    ]
    for t in tasks:
        lines += ["", f"## invoke {t.name}", "", md.text(t.summary) or "(no docstring)", ""]
        if t.aliases:
            lines += ["Also: " + ", ".join(md.code(a) for a in t.aliases), ""]
        if t.flags:
            lines += md.table(
                ("flag", "value", "default", "help"),
                (
                    (
                        ", ".join(md.code(n) for n in f.names),
                        f.value,
                        md.code(f.default) if f.default else "",
                        md.text(f.help),
                    )
                    for f in t.flags
                ),
            )
        else:
            lines.append("No flags.")
    return md.page(lines)


def _anchor(name: str) -> str:
    # The toc extension's slug of "invoke <name>": lower-case, dots dropped, spaces to dashes.
    return re.sub(r"[^\w\s-]", "", f"invoke {name}".lower()).strip().replace(" ", "-")
