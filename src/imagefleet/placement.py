"""Which BuildKit node builds which image: stable (rendezvous hashing of the image's name over
the nodes' names) and balanced within a wave (at most ceil(wave / nodes) images per node)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence


def _score(node: str, image: str) -> int:
    # Highest random weight: each (node, image) pair gets a fixed pseudo-random weight, so adding
    # or removing a node moves only the images that node wins or held.
    digest = hashlib.sha256(f"{node}\0{image}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def preference(image: str, nodes: Sequence[str]) -> list[str]:
    """``nodes`` in the order ``image`` prefers them: the same order while the node list is the
    same, whatever order it is given in."""
    return sorted(nodes, key=lambda node: (-_score(node, image), node))


def place(waves: Sequence[Sequence[str]], nodes: Sequence[str]) -> dict[str, str]:
    """Image -> node for every image of ``waves`` (images of one wave build side by side).

    Each image goes to the node it prefers most that still has room in its wave; room is
    ``ceil(len(wave) / len(nodes))``, so a wave spreads over the nodes. Images are placed in
    name order, so the same wave on the same nodes always places the same way.
    """
    if not nodes:
        raise ValueError("no nodes to place images on")
    unique = sorted(set(nodes))
    placed: dict[str, str] = {}
    for wave in waves:
        cap = math.ceil(len(wave) / len(unique))
        load: dict[str, int] = dict.fromkeys(unique, 0)
        for image in sorted(wave):
            node = next(n for n in preference(image, unique) if load[n] < cap)
            load[node] += 1
            placed[image] = node
    return placed


def per_node(placed: Mapping[str, str]) -> dict[str, list[str]]:
    """Node -> its images (name order), for summaries."""
    out: dict[str, list[str]] = {}
    for image, node in sorted(placed.items()):
        out.setdefault(node, []).append(image)
    return out
