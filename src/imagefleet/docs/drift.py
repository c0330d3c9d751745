"""Generated text against committed files: the drift check, the write, and generated regions.

:func:`check` lists the files whose committed text differs from what
:func:`imagefleet.docs.site.generate` returns, :func:`write` brings them up to date, and
:func:`replace_region` puts generated lines between the markers of a hand-written file.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import (
    DocsDriftError,
    DocsError,
    MissingBeginMarkerError,
    MissingEndMarkerError,
)
from .images import IMAGES_PAGES

LOGGER = logging.getLogger(__name__)

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN GENERATED (?P<name>[\w-]+)\b.*$")
_END = "# END GENERATED {name}"


def replace_region(text: str, name: str, body: Sequence[str], *, path: str) -> str:
    """Replace the lines between ``# BEGIN GENERATED name`` and ``# END GENERATED name``.

    ``body`` lines are indented like the BEGIN marker; the markers themselves stay.
    """
    lines = text.splitlines()
    begin = next(
        (i for i, line in enumerate(lines) if (m := _BEGIN.match(line)) and m["name"] == name),
        None,
    )
    if begin is None:
        raise MissingBeginMarkerError(path=path, name=name)
    end_marker = _END.format(name=name)
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip() == end_marker), None)
    if end is None:
        raise MissingEndMarkerError(path=path, name=name, end_marker=end_marker)
    indent = _BEGIN.match(lines[begin])["indent"]  # type: ignore[index]  # matched above
    new = [f"{indent}{line}" if line else "" for line in body]
    return "\n".join([*lines[: begin + 1], *new, *lines[end:]]) + "\n"


@dataclass(frozen=True)
class Drift:
    """A generated file that differs from what is committed."""

    path: str
    state: Literal["missing", "stale", "orphaned"]
    diff: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.path} ({self.state})"


def _orphans(root: Path, expected: Mapping[str, str]) -> list[str]:
    """Generated image pages whose image is gone."""
    directory = root / IMAGES_PAGES
    if not directory.is_dir():
        return []
    return [
        p.relative_to(root).as_posix()
        for p in sorted(directory.glob("*.md"))
        if p.relative_to(root).as_posix() not in expected
    ]


def check(root: Path, generated: Mapping[str, str]) -> list[Drift]:
    """Generated files that are missing, differ from ``generated``, or belong to no image."""
    drift: list[Drift] = []
    for rel, text in generated.items():
        path = root / rel
        if not path.is_file():
            drift.append(Drift(rel, "missing"))
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{rel} (committed)",
                f"{rel} (generated)",
                lineterm="",
                n=1,
            )
            drift.append(Drift(rel, "stale", tuple(diff)))
    drift += [Drift(rel, "orphaned") for rel in _orphans(root, generated)]
    return drift


def write(root: Path, generated: Mapping[str, str]) -> list[Drift]:
    """Bring every generated file up to date; remove pages of images that are gone."""
    drift = check(root, generated)
    for item in drift:
        path = root / item.path
        if item.state == "orphaned":
            path.unlink()
            LOGGER.info("removed %s", item.path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generated[item.path], encoding="utf-8")
        LOGGER.info("wrote %s", item.path)
    return drift


def drift_error(drift: Sequence[Drift], *, max_diff_lines: int = 40) -> DocsError:
    """The error ``invoke docs --check`` raises: which files, and the start of each diff."""
    details = [line for item in drift for line in item.diff][:max_diff_lines]
    return DocsDriftError(count=len(drift), files=", ".join(map(str, drift)), details=details)
