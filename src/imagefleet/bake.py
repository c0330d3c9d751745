"""The ``docker buildx bake`` definition of a batch of builds (target names, named-context keys,
the JSON file's content) and what its run left behind. Pure data; :mod:`imagefleet.engine` runs
it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import BuildRequest

# buildx accepts these characters in target names; image names may also hold dots.
_TARGET_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_-]")
# `[internal]` prefixes bake's own progress lines and `default` is its default group.
_RESERVED = frozenset({"internal", "default"})
_HUB_PREFIXES = ("docker.io/", "index.docker.io/")


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
