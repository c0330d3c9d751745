"""Images pushed by digest before they are tagged: the digests file that hands them from the
build jobs to the promote job, and promoting them (tags in the registry, ``latest`` last).

A digests file is a JSON object ``{"<image>": "sha256:<64 hex>", …}``; a directory of such files
(``<image>.json``, one per CI job, merged by ``actions/download-artifact``) reads as their union.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .errors import (
    DigestsFormatError,
    DigestsMissingError,
    StagedDigestMissingError,
)
from .reference import Target
from .registry import PushedTag, holds
from .registry import promote as registry_promote
from .tags import TagSet

LOGGER = logging.getLogger(__name__)

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def _read_one(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestsFormatError(path=path, problem=f"unreadable ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DigestsFormatError(
            path=path, problem=f"not JSON ({exc.msg}, line {exc.lineno})"
        ) from exc
    if not isinstance(data, dict):
        raise DigestsFormatError(path=path, problem=f"a JSON {type(data).__name__}, not an object")
    for name, digest in data.items():
        if not isinstance(digest, str) or not DIGEST_RE.match(digest):
            raise DigestsFormatError(
                path=path, problem=f"{name}: {digest!r} is not a sha256:<64 hex> digest"
            )
    return {str(k): str(v) for k, v in data.items()}


def read(path: Path) -> dict[str, str]:
    """Image → digest from a digests file, or from every ``*.json`` of a directory (sorted);
    the same image with two digests is an error (two builds of it cannot both be promoted)."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
    elif path.is_file():
        files = [path]
    else:
        files = []
    if not files:
        raise DigestsMissingError(path=path)
    found: dict[str, str] = {}
    seen_in: dict[str, Path] = {}
    for file in files:
        for name, digest in _read_one(file).items():
            if found.get(name, digest) != digest:
                raise DigestsFormatError(
                    path=file,
                    problem=f"{name} is {digest}, but {seen_in[name].name} says {found[name]}",
                )
            found[name] = digest
            seen_in.setdefault(name, file)
    return found


def record(directory: Path, image: str, digest: str) -> Path:
    """Write ``directory/<image>.json`` for one pushed image (what a build job uploads)."""
    if not DIGEST_RE.match(digest):
        raise DigestsFormatError(
            path=directory / f"{image}.json", problem=f"{digest!r} is not a digest"
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{image}.json"
    path.write_text(json.dumps({image: digest}) + "\n", encoding="utf-8")
    return path


def promote(
    target: Target,
    staged: Iterable[tuple[str, str, TagSet]],
    *,
    attempts: int,
    max_wait: float,
    on_tag: Callable[[str, PushedTag], None] | None = None,
) -> dict[str, list[PushedTag]]:
    """Tag each staged ``(image, digest, tags)`` inside the registry, nothing uploaded.

    Decide first: every digest must be in the registry before any tag moves. Then every image's
    tags but ``latest`` (sha tags first, each read back and verified), and only when all of them
    are in place, ``latest`` of each image that moves it.
    """
    chosen = list(staged)
    for name, digest, _ in chosen:
        if not holds(target, name, digest, attempts=attempts, max_wait=max_wait):
            raise StagedDigestMissingError(reference=f"{target.repository(name)}@{digest}")
    return registry_promote(target, chosen, attempts=attempts, max_wait=max_wait, on_tag=on_tag)


def by_name(digests: Mapping[str, str], order: Iterable[str]) -> list[tuple[str, str]]:
    """``digests`` in ``order`` (build order: parents tagged before their children)."""
    return [(name, digests[name]) for name in order if name in digests]
