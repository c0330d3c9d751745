"""Named buildx builders and their BuildKit nodes: which exist, a one-node builder per node (buildx
cannot send a bake target to a chosen node), and a bake on one node that pushes by digest.

The seam for ``docker buildx`` commands that never touch the local engine; builds that load
into the engine stay in :mod:`imagefleet.engine`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import bake
from .bake import run_bake
from .buildlog import QUIET_STEPS, BakeLog, buildx_failure
from .engine import BuildRequest
from .errors import (
    BuildDroppedError,
    BuildxMissingError,
    FleetError,
    NodeUnusableError,
    UnknownBuilderError,
)

LOGGER = logging.getLogger(__name__)

# Per-node builders the tool makes are named after the builder and the node.
PREFIX = "imagefleet-"
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.-]")
_CACHED_RE = re.compile(r"^#(?P<id>\d+) CACHED$")
_STEP_RE = re.compile(r"^#(?P<id>\d+) \[(?:[^\]]* )?\d+/\d+\] ")
# The local engine's own driver: a builder of it builds into the engine, not on a node.
LOCAL_DRIVER = "docker"
# Drivers whose one-node builders attach to a daemon someone else runs: removing them is safe.
_ATTACHING = frozenset({"remote"})
# Unlike the local engine (ADR 11), node builds push provenance: buildx's git info is the only way
# bake has to hand BuildKit `vcs:revision`/`vcs:source` (about 20 ms of git per image; ADR 16).
_ENV = {"BUILDX_GIT_INFO": "1"}


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    LOGGER.debug("running %s", " ".join(argv))
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise BuildxMissingError() from exc


@dataclass(frozen=True)
class Node:
    """One BuildKit daemon of a builder."""

    builder: str
    name: str
    endpoint: str
    driver: str
    platforms: tuple[str, ...] = ()
    driver_opts: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How summaries name it: ``builder/node``."""
        return f"{self.builder}/{self.name}"

    @property
    def platform(self) -> str:
        """The node's own platform (``linux/amd64``), what an image without platforms gets."""
        return self.platforms[0] if self.platforms else "linux/amd64"


@dataclass(frozen=True)
class Builder:
    """A buildx builder: its driver and nodes."""

    name: str
    driver: str
    nodes: tuple[Node, ...]

    @property
    def local(self) -> bool:
        """Whether it builds in the local engine (the ``docker`` driver)."""
        return self.driver == LOCAL_DRIVER


def _store() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "buildx"


def _driver_opts(builder: str) -> dict[str, dict[str, str]]:
    """Node -> its ``--driver-opt`` values, from buildx's own record of the builder (``ls`` and
    ``inspect`` do not show them; mTLS certificates live there)."""
    try:
        data = json.loads((_store() / "instances" / builder).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        str(n.get("Name")): {str(k): str(v) for k, v in (n.get("DriverOpts") or {}).items()}
        for n in data.get("Nodes") or ()
    }


def parse_ls_json(text: str) -> dict[str, Builder]:
    """``docker buildx ls --format json`` (one JSON object per line) -> builders by name."""
    found: dict[str, Builder] = {}
    for line in text.splitlines():
        if not line.strip().startswith("{"):
            continue
        row: dict[str, Any] = json.loads(line)
        name, driver = str(row["Name"]), str(row.get("Driver") or "")
        opts = _driver_opts(name)
        nodes = tuple(
            Node(
                builder=name,
                name=str(n.get("Name")),
                endpoint=str(n.get("Endpoint") or ""),
                driver=driver,
                platforms=tuple(str(p) for p in n.get("Platforms") or ()),
                driver_opts=opts.get(str(n.get("Name")), {}),
            )
            for n in row.get("Nodes") or ()
        )
        found[name] = Builder(name, driver, nodes)
    return found


def parse_inspect(text: str) -> Builder:
    """``docker buildx inspect NAME`` (text) -> the builder (a buildx without ``ls --format``)."""
    name, driver = "", ""
    nodes: list[dict[str, str]] = []
    for raw in text.splitlines():
        key, sep, value = raw.partition(":")
        if not sep or raw.startswith(" "):
            continue
        key, value = key.strip(), value.strip()
        if key == "Name" and not nodes and not name:
            name = value
        elif key == "Driver":
            driver = value
        elif key == "Name":
            nodes.append({"Name": value})
        elif key in ("Endpoint", "Platforms") and nodes:
            nodes[-1][key] = value
    if nodes and nodes[0].get("Name") == name and "Endpoint" not in nodes[0]:
        nodes.pop(0)  # the builder's own Name line came before "Nodes:"
    opts = _driver_opts(name)
    return Builder(
        name,
        driver,
        tuple(
            Node(
                builder=name,
                name=n["Name"],
                endpoint=n.get("Endpoint", ""),
                driver=driver,
                platforms=tuple(p.strip() for p in n.get("Platforms", "").split(",") if p.strip()),
                driver_opts=opts.get(n["Name"], {}),
            )
            for n in nodes
        ),
    )


def builders(run: Runner = _run) -> dict[str, Builder]:
    """Every buildx builder, by name (the tool's own per-node builders left out)."""
    done = run(["docker", "buildx", "ls", "--format", "json"])
    if done.returncode == 0:
        found = parse_ls_json(done.stdout)
    else:  # an older buildx: names from the table, each builder from `inspect`
        table = run(["docker", "buildx", "ls"])
        if table.returncode != 0:
            raise BuildxMissingError()
        names = [
            line.split()[0].rstrip("*")
            for line in table.stdout.splitlines()[1:]
            if line.strip() and not line.startswith((" ", "\\"))
        ]
        found = {}
        for name in names:
            shown = run(["docker", "buildx", "inspect", name])
            if shown.returncode == 0:
                found[name] = parse_inspect(shown.stdout)
    return {n: b for n, b in found.items() if not n.startswith(PREFIX)}


def resolve(names: Sequence[str], run: Runner = _run) -> list[Builder]:
    """The builders ``names`` names, in that order; an unknown one is a usage error that lists
    the known ones."""
    known = builders(run)
    for name in names:
        if name not in known:
            raise UnknownBuilderError(builder=name, known=", ".join(sorted(known)) or "none")
    return [known[n] for n in names]


def node_builder_name(node: Node) -> str:
    """The one-node builder the tool drives ``node`` through."""
    return PREFIX + _UNSAFE_RE.sub("_", f"{node.builder}-{node.name}")


def ensure_node_builder(node: Node, run: Runner = _run) -> str:
    """A builder of ``node`` alone (created, or recreated when the node moved); its name.

    A ``remote`` node is attached again by endpoint and driver options (mTLS certificates);
    other drivers get a builder of the same driver, node name and options, which finds the
    node's existing daemon (the kubernetes driver names its deployment after the node).
    """
    name = node_builder_name(node)
    if _matches(name, node):
        return name
    if node.driver in _ATTACHING and (_store() / "instances" / name).is_file():
        run(["docker", "buildx", "rm", name])  # the node moved: attach again
    argv = ["docker", "buildx", "create", "--name", name, "--driver", node.driver]
    for key, value in sorted(node.driver_opts.items()):
        argv += ["--driver-opt", f"{key}={value}"]
    if node.driver in _ATTACHING:
        argv.append(node.endpoint)
    else:
        argv += ["--node", node.name]
    done = run(argv)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["docker buildx create failed"]
        raise NodeUnusableError(node=node.label, builder=node.builder, reason=reason[0][:200])
    return name


def _matches(name: str, node: Node) -> bool:
    """Whether the per-node builder ``name`` exists and still reaches ``node`` the same way."""
    try:
        record = json.loads((_store() / "instances" / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    members = record.get("Nodes") or []
    if record.get("Driver") != node.driver or len(members) != 1:
        return False
    same_place = node.driver not in _ATTACHING or members[0].get("Endpoint") == node.endpoint
    return same_place and (members[0].get("DriverOpts") or {}) == dict(node.driver_opts)


def remove_node_builders(builder: str, run: Runner = _run) -> list[str]:
    """Remove the per-node builders made for ``builder`` (only those attaching to a daemon run
    elsewhere: removing others would remove their daemon); return their names."""
    removed = []
    stem = PREFIX + _UNSAFE_RE.sub("_", f"{builder}-")
    for path in sorted((_store() / "instances").glob(f"{stem}*")):
        try:
            driver = json.loads(path.read_text(encoding="utf-8")).get("Driver")
        except (OSError, ValueError):
            continue
        if driver in _ATTACHING:
            run(["docker", "buildx", "rm", path.name])
            removed.append(path.name)
    return removed


@dataclass(frozen=True)
class NodeResult:
    """One image built on a node: each target's pushed digest (in request order), or the error."""

    image: str
    digests: tuple[str, ...] = ()
    error: FleetError | None = None
    seconds: float = 0.0
    steps: int = 0  # build steps (``[k/n] …``) the log showed
    cached: int = 0  # of which BuildKit took from a cache


def target_names(requests: Sequence[BuildRequest]) -> list[str]:
    """Bake target names of one image's requests: the image's, or with several (one per
    platform) ``<image>-linux-amd64``, ``<image>-linux-arm64``, …"""
    if len(requests) == 1:
        return [bake.target_names([requests[0].image])[requests[0].image]]
    keys = [f"{r.image}-{'-'.join(r.platforms).replace('/', '-')}" for r in requests]
    names = bake.target_names(keys)
    return [names[k] for k in keys]


def _titled(title: str, platform: str) -> str:
    return f"[{platform} {title[1:]}" if platform and title.startswith("[") else title


def build_on(
    builder_name: str,
    requests: Sequence[BuildRequest],
    on_step: Callable[[str], None] | None = None,
) -> NodeResult:
    """Bake ``requests`` (one image's, whose outputs push by digest) in one bake with the
    one-node ``builder_name``; the image fails when any of its targets does."""
    step = on_step or (lambda _: None)
    image = requests[0].image
    names = target_names(requests)
    log = BakeLog(frozenset(names))
    # Several targets are one image's platforms: their steps say which, as BuildKit's own do.
    shown = {n: ",".join(r.platforms) for n, r in zip(names, requests, strict=True)}
    shown = shown if len(names) > 1 else {}
    steps: set[str] = set()
    cached: set[str] = set()
    started = time.monotonic()

    def line(text: str) -> None:
        if match := _STEP_RE.match(text):
            steps.add(match["id"])
        elif match := _CACHED_RE.match(text):
            cached.add(match["id"])
        found = log.feed(text, time.monotonic())
        if found and not found[1].startswith(QUIET_STEPS):
            step(_titled(found[1], shown.get(found[0], "")))

    targets = {image: names[0]}
    code, written = run_bake(requests, targets, line, names=names, builder=builder_name, env=_ENV)
    seconds = time.monotonic() - started
    counts = {"steps": len(steps), "cached": len(cached & steps)}
    digests = tuple(str(written.get(n, {}).get("containerimage.digest") or "") for n in names)
    if code == 0 and all(digests):
        return NodeResult(image, digests, None, seconds, **counts)
    if dropped := log.dropped(code):
        error: FleetError = BuildDroppedError(image=image, attempts=1, reason=dropped)
    else:
        # Bake cancels the other targets when one fails: the error is the one that failed.
        at = next((n for n, name in enumerate(names) if log.failed(name)), 0)
        error = buildx_failure(requests[at], log.logs[names[at]])
    return NodeResult(image, (), error, seconds, **counts)
