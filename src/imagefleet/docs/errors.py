"""The error reference page: every ``error:``/``hint:`` pair the tool can print, by exit code.

The messages are data: every concrete error class in :mod:`imagefleet.errors` carries its exit
code, message template and hint, so the page lists every message the tool can print by
construction (no source text is read).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ExitCode, catalogue
from . import markdown as md

ERRORS_PAGE = "docs/reference/errors.md"


@dataclass(frozen=True)
class ErrorMessage:
    """One message the tool can print: ``error: <message>`` / ``hint: <hint>``."""

    error: str  # the error class
    exit_code: int
    summary: str  # when it is raised: the first line of the class's docstring
    message: str  # with <placeholders> for what is filled in at run time
    hint: str
    pattern: str  # a regular expression that the printed message matches
    hint_pattern: str = ".*"

    def matches(self, message: str, hint: str | None = None) -> bool:
        """Whether a printed ``error:`` (and ``hint:``) text, prefixes removed, comes from here."""
        if re.fullmatch(self.pattern, message) is None:
            return False
        return hint is None or re.fullmatch(self.hint_pattern, hint) is not None


def error_catalog() -> list[ErrorMessage]:
    """Every ``error:``/``hint:`` pair the package can raise, from the error classes."""
    found = []
    for cls in catalogue():
        (message, hint), (pattern, hint_pattern) = cls.shown(), cls.patterns()
        found.append(
            ErrorMessage(
                error=cls.__name__,
                exit_code=int(cls.exit_code),
                summary=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
                message=message,
                hint=hint,
                pattern=pattern,
                hint_pattern=hint_pattern,
            )
        )
    return found


def errors_page(messages: Sequence[ErrorMessage]) -> str:
    """Every error message, grouped by exit code, as the console prints it."""
    meanings = {int(member): member.meaning for member in ExitCode}
    lines = [
        md.NOTE.format(source="the error classes in src/imagefleet/errors.py"),
        "",
        "# Error messages",
        "",
        "Every failure prints one `error:` line and one `hint:` line (a failed build step adds "
        "its last log lines between them) and exits with the code of its class. This page is "
        "generated from the error classes: each entry is a class's message template, with "
        "`<placeholders>` for what is filled in at run time. Search it for the text you see. "
        "[Troubleshooting](../operations/troubleshooting.md) explains the common ones.",
        "",
        "## Exit codes",
        "",
        *md.table(
            ("exit code", "meaning", "messages below"),
            (
                (
                    f"[{int(code)}](#exit-code-{int(code)}-{code.name.lower()})"
                    if any(m.exit_code == code for m in messages)
                    else str(int(code)),
                    md.text(meanings[int(code)]),
                    str(sum(m.exit_code == code for m in messages)),
                )
                for code in ExitCode
            ),
        ),
    ]
    for code in sorted({m.exit_code for m in messages}):
        name = ExitCode(code).name.lower() if code in set(ExitCode) else str(code)
        lines += ["", f"## Exit code {code}: {name}", "", md.text(meanings.get(code, "")), ""]
        for m in (m for m in messages if m.exit_code == code):
            lines += [
                f"{md.code(m.error)}: {md.text(m.summary)}" if m.summary else md.code(m.error),
                "",
                "```text",
                f"error: {m.message}",
                *([f"hint: {m.hint}"] if m.hint else []),
                "```",
                "",
            ]
    return md.page(lines)
