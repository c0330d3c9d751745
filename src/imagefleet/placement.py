"""Which BuildKit node builds which image: only nodes that list all of the image's platforms,
stable (rendezvous hashing of the image's name over the nodes' names) and balanced within a wave
(at most ceil(wave / nodes) images per node)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence


def _score(node: str, image: str) -> int:
    # Highest random weight: each (node, image) pair gets a fixed pseudo-random weight, so adding
    # or removing a node moves only the images that node wins or held.
    digest = hashlib.sha256(f"{node}\0{image}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def preference(image: str, nodes: Sequence[str]) -> list[str]:
    """``nodes`` in the order ``image`` prefers them: the same order while the node list is the
    same, whatever order it is given in."""
    return sorted(nodes, key=lambda node: (-_score(node, image), node))


def _normal(platform: str) -> str:
    # BuildKit lists arm64 without its only variant and amd64 without the baseline one.
    text = platform.strip().lower()
    for implied in ("/arm64/v8", "/amd64/v1"):
        if text.endswith(implied):
            return text.removesuffix(implied.rsplit("/", 1)[1]).rstrip("/")
    return text


def missing(wanted: Sequence[str], offered: Sequence[str]) -> list[str]:
    """Platforms of ``wanted`` that a node offering ``offered`` cannot build (none when the node
    lists no platforms: unknown is left to BuildKit to say)."""
    if not offered:
        return []
    have = {_normal(p) for p in offered}
    return [p for p in wanted if _normal(p) not in have]


def candidates(
    platforms: Mapping[str, Sequence[str]], nodes: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Image -> the nodes that can build all its platforms (``platforms``: image -> wanted, empty
    for the node's own; ``nodes``: node -> the platforms it lists). An image no node can build
    gets an empty list."""
    return {
        image: [n for n, offered in sorted(nodes.items()) if not missing(wanted, offered)]
        for image, wanted in platforms.items()
    }


def place(
    waves: Sequence[Sequence[str]],
    nodes: Sequence[str],
    allowed: Mapping[str, Collection[str]] | None = None,
) -> dict[str, str]:
    """Image -> node for every image of ``waves`` (images of one wave build side by side).

    Each image goes to the node it prefers most that still has room in its wave; room is
    ``ceil(len(wave) / len(nodes))``, so a wave spreads over the nodes. Images are placed in
    name order, so the same wave on the same nodes always places the same way. ``allowed``
    (image -> nodes) narrows an image's candidates (its platforms); when all of them are full,
    the least loaded one takes it anyway.
    """
    if not nodes:
        raise ValueError("no nodes to place images on")
    unique = sorted(set(nodes))
    placed: dict[str, str] = {}
    for wave in waves:
        cap = math.ceil(len(wave) / len(unique))
        load: dict[str, int] = dict.fromkeys(unique, 0)
        for image in sorted(wave):
            some = set(allowed[image]) if allowed and image in allowed else set(unique)
            ranked = [n for n in preference(image, unique) if n in some]
            if not ranked:
                raise ValueError(f"no node may build {image}")
            node = next((n for n in ranked if load[n] < cap), None)
            node = node or min(ranked, key=lambda n: (load[n], ranked.index(n)))
            load[node] += 1
            placed[image] = node
    return placed


def per_node(placed: Mapping[str, str]) -> dict[str, list[str]]:
    """Node -> its images (name order), for summaries."""
    out: dict[str, list[str]] = {}
    for image, node in sorted(placed.items()):
        out.setdefault(node, []).append(image)
    return out
