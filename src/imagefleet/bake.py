"""The ``docker buildx bake`` of a batch of builds: its definition (target names, named-context
keys, the JSON file's content), its run (:func:`run_bake`, for local batches and BuildKit nodes
alike), and what a run left behind."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import signals, tools
from .buildlog import BakeLog
from .errors import BuildxMissingError

if TYPE_CHECKING:
    from .engine import BuildRequest

# buildx accepts these characters in target names; image names may also hold dots.
_TARGET_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_-]")
# `[internal]` prefixes bake's own progress lines and `default` is its default group.
_RESERVED = frozenset({"internal", "default"})
_HUB_PREFIXES = ("docker.io/", "index.docker.io/")
LOGGER = logging.getLogger(__name__)
# buildx readies every target of a bake (a session and a few calls to the daemon each, one after
# another: about 20 ms a target here) before BuildKit starts on any of them. When this many images
# of a batch wait behind its roots, the roots get a bake of their own beside the batch's: BuildKit
# starts on them sooner, and what waits on them sooner too (see :func:`runs`).
HEAD_START_MIN = 6


def target_names(images: Iterable[str]) -> dict[str, str]:
    """Image name -> a bake target name buildx accepts, unique within the batch."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for image in images:
        base = _TARGET_UNSAFE_RE.sub("_", image)
        name = f"{base}_" if base in _RESERVED else base
        n = 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[image] = name
    return names


def context_key(reference: str) -> str:
    """The named-context key BuildKit looks up for ``reference`` in ``FROM``/``COPY --from``.

    The Dockerfile frontend asks for the familiar name with ``:latest`` trimmed (``alpine``, not
    ``docker.io/library/alpine:latest``). ``buildx build --build-context`` normalises its keys
    this way; bake passes them verbatim, so a ``…:latest`` key would never match there.
    """
    name, at, digest = reference.partition("@")
    for prefix in _HUB_PREFIXES:
        if name.startswith(prefix):
            name = name.removeprefix(prefix).removeprefix("library/")
            break
    if not at:
        repository, sep, tag = name.rpartition(":")
        if sep and "/" not in tag and tag == "latest":
            name = repository
    return name + at + digest


def _escaped(value: str) -> str:
    # Bake reads JSON strings as HCL templates: a literal `${` or `%{` must be doubled.
    return value.replace("${", "$${").replace("%{", "%%{")


def _strings(values: Mapping[str, str]) -> dict[str, str]:
    return {_escaped(k): _escaped(v) for k, v in values.items()}


def contexts(request: BuildRequest, targets: Mapping[str, str]) -> dict[str, str]:
    """Named contexts of one target: parents built earlier as ``docker-image://`` local images,
    parents in the same batch as ``target:`` (the batch's own result, never a pull), and the
    staged local contexts (``contexts:`` in image.yml) as their directories."""
    found = {context_key(ref): f"docker-image://{local}" for ref, local in request.parents.items()}
    found.update(
        {
            context_key(ref): f"target:{targets[image]}"
            for ref, image in request.batch_parents.items()
        }
    )
    found.update(request.contexts)
    return found


def definition(
    requests: Sequence[BuildRequest],
    targets: Mapping[str, str],
    names: Sequence[str] = (),
) -> dict[str, Any]:
    """The bake JSON for ``requests`` (``targets``: image name -> target name); an image is
    loaded into the local daemon under its tags unless its request names other outputs.
    ``names``: each request's own target name, when one image has several (one per platform)."""
    out: dict[str, Any] = {}
    for n, request in enumerate(requests):
        target: dict[str, Any] = {
            "context": _escaped(str(request.context)),
            "dockerfile": _escaped(str(request.dockerfile)),
            "tags": [_escaped(t) for t in request.tags],
            "args": _strings(request.build_args),
            "labels": _strings(request.labels),
            "contexts": _strings(contexts(request, targets)),
            "output": [_escaped(o) for o in request.outputs] or ["type=docker"],
        }
        if request.cache_from:
            target["cache-from"] = [_escaped(c) for c in request.cache_from]
        if request.cache_to:
            target["cache-to"] = [_escaped(c) for c in request.cache_to]
        if request.attest:
            target["attest"] = [_escaped(a) for a in request.attest]
        if request.secrets:
            # Names only: buildx reads each value from its own environment when it runs.
            target["secret"] = [_escaped(spec) for spec in request.secrets]
        if request.platforms:
            target["platforms"] = list(request.platforms)
        if request.no_cache:
            target["no-cache"] = True
        out[names[n] if names else targets[request.image]] = target
    return {"target": out}


@dataclass(eq=False)
class Run:
    """One bake of a batch: the requests its definition holds, the images whose results it
    gives (``own``), its log, and how it ended (exit code, metadata file)."""

    requests: Sequence[BuildRequest]
    own: frozenset[str]
    log: BakeLog
    code: int = 0
    written: dict[str, Any] = field(default_factory=dict)


def runs(requests: Sequence[BuildRequest], targets: Mapping[str, str]) -> list[Run]:
    """The bakes that build ``requests`` (``targets``: image -> target name): one; or, when at
    least :data:`HEAD_START_MIN` images wait behind the batch's roots, a head start first.

    The head-start bake builds and exports the roots (images no other one in the batch builds
    on, that some do). The batch's bake, run beside it, holds every image, the roots with no
    output (:func:`cache_only`): its ``target:`` contexts need them. BuildKit runs a step that
    two builds share once (the second waits for the first, or finds its result in the cache),
    so the roots are built once; the head start only spares them the wait for the batch's
    other targets to be readied. Never with ``no_cache``, where that sharing is not assured.
    """

    def run(members: Sequence[BuildRequest], own: frozenset[str]) -> Run:
        return Run(members, own, BakeLog(frozenset(targets[r.image] for r in members)))

    every = frozenset(r.image for r in requests)
    parents = {p for r in requests for p in r.batch_parents.values()}
    head = frozenset(r.image for r in requests if not r.batch_parents and r.image in parents)
    # Without the cache (--no-cache) BuildKit may run the two builds' steps twice: the children
    # could then build on another copy of a root than the one exported.
    if not head or len(every - head) < HEAD_START_MIN or any(r.no_cache for r in requests):
        return [run(requests, every)]
    return [
        run([r for r in requests if r.image in head], head),
        run([cache_only(r) if r.image in head else r for r in requests], every - head),
    ]


def cache_only(request: BuildRequest) -> BuildRequest:
    """``request`` built for its result's sake only: no tags, output, attestations or cache
    export (bake's ``type=cacheonly``)."""
    return dataclasses.replace(
        request, tags=(), outputs=("type=cacheonly",), attest=(), cache_to=()
    )


def run_all(
    bakes: Sequence[Run],
    targets: Mapping[str, str],
    on_line: Callable[[Run, str], None],
) -> None:
    """Run ``bakes`` at once (see :func:`run_bake`), each to its end, recording how each ended;
    ``on_line`` gets each line with the bake that printed it."""

    def one(run: Run) -> None:
        names = {r.image: targets[r.image] for r in run.requests}
        run.code, run.written = run_bake(run.requests, names, lambda text: on_line(run, text))

    *heads, last = bakes
    if not heads:
        one(last)
        return
    with ThreadPoolExecutor(max_workers=len(heads), thread_name_prefix="bake-head") as pool:
        started = [pool.submit(one, run) for run in heads]
        one(last)
        for future in started:
            future.result()


def ancestors(request: BuildRequest, requests: Sequence[BuildRequest]) -> set[str]:
    """Images of ``requests`` that ``request`` builds on, directly or not."""
    by_image = {r.image: r for r in requests}
    found: set[str] = set()
    todo = list(request.batch_parents.values())
    while todo:
        image = todo.pop()
        found.add(image)
        todo.extend(p for p in by_image[image].batch_parents.values() if p not in found)
    return found


def fresh_image(
    tags: Sequence[str], before: Mapping[str, str], after: Mapping[str, str]
) -> str | None:
    """The image a dropped bake exported under all of ``tags`` although its log did not show it:
    every tag now names one image, and at least one named another (or nothing) before."""
    ids = {after.get(tag) for tag in tags}
    image_id = ids.pop() if len(ids) == 1 else None
    if image_id is None or all(before.get(tag) == image_id for tag in tags):
        return None
    return image_id


# Buildx runs ~6 git commands per target to put the commit into provenance attestations, which
# an image loaded into the engine does not keep; the tool labels revision and source itself.
# A BUILDX_GIT_INFO the user sets still wins.
_BAKE_ENV = {"BUILDX_GIT_INFO": "0"}


def run_bake(
    requests: Sequence[BuildRequest],
    targets: Mapping[str, str],
    on_line: Callable[[str], None],
    *,
    names: Sequence[str] = (),
    builder: str | None = None,
    env: Mapping[str, str] = _BAKE_ENV,
) -> tuple[int, dict[str, Any]]:
    """Run one ``docker buildx bake`` of ``requests`` (targets ``names``, else ``targets``' values;
    on ``builder``, else the current one), handing ``on_line`` each line of its plain progress;
    return its exit code and metadata file. It stops with the run: SIGINT or SIGTERM reach the
    CLI once (see :func:`signals.forwarded`), which then cancels the build in BuildKit (a CLI that
    merely dies leaves BuildKit building, tagging and pushing). ``env`` gives way to the user's."""
    with tempfile.TemporaryDirectory(prefix="imagefleet-bake-") as tmp:
        spec = Path(tmp) / "bake.json"
        metadata = Path(tmp) / "metadata.json"
        spec.write_text(json.dumps(definition(requests, targets, names), indent=1))
        argv = [*tools.buildx(), "bake", *(("--builder", builder) if builder else ())]
        argv += ["--file", str(spec), "--metadata-file", str(metadata), "--progress=plain"]
        argv += [*(names or targets.values())]
        LOGGER.debug("running %s\n%s", " ".join(argv), spec.read_text())
        try:
            proc = subprocess.Popen(
                argv,
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                env=dict(env) | dict(os.environ),
                process_group=0,  # signals reach it once, from signals.forwarded
            )
        except FileNotFoundError as exc:
            raise BuildxMissingError() from exc
        with proc, signals.forwarded(proc, late=True):
            assert proc.stdout is not None  # noqa: S101 - PIPE was asked for
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                LOGGER.debug("%s | %s", builder or "bake", line)
                on_line(line)
            code = proc.wait()
        written: dict[str, Any] = json.loads(metadata.read_text()) if metadata.is_file() else {}
    return code, written
