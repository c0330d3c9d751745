"""Image → parent edges inside the repository, cycles, build order (waves) and descendants.

An image depends on another image of this repository when a ``FROM`` or ``COPY --from`` names it:
by bare name (``helm-deploy[:tag]``) or as ``<registry>/<namespace>/<name>[:tag][@digest]`` for the
configured registry or any of its aliases (mirrors, proxies, other hosts that serve the same
images). The parents come from the Dockerfiles; nothing else lists them.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .catalog import Catalog, Image
from .errors import DependencyCycleError, InvalidReferenceError
from .reference import (
    Reference,
    Target,
    canonical_domain,
    canonical_path,
    parse_reference,
)


@dataclass(frozen=True)
class ParentRef:
    """A reference in a Dockerfile that resolves to another image of this repository."""

    image: str  # the parent's name
    reference: str  # as written in the Dockerfile, after ARG expansion


def _repo_key(ref: Reference) -> tuple[str, str]:
    return canonical_domain(ref.domain), canonical_path(ref.domain, ref.path)


def match_parent(text: str, names: Iterable[str], targets: Sequence[Target]) -> str | None:
    """The repository image ``text`` refers to, or ``None`` when it is an outside image."""
    try:
        ref = parse_reference(text)
    except InvalidReferenceError:
        return None
    names = set(names)
    if ref.domain is None and ref.path in names:
        return ref.path  # bare name: `FROM helm-deploy` or `FROM helm-deploy:<sha>`
    domain, path = _repo_key(ref)
    for target in targets:
        target_domain = canonical_domain(target.domain)
        if domain != target_domain:
            continue
        prefix = target.path_prefix
        if path.startswith(prefix) and path[len(prefix) :] in names:
            return path[len(prefix) :]
    return None


def _edges_of(
    image: Image, names: set[str], targets: Sequence[Target], overrides: Mapping[str, str] | None
) -> tuple[ParentRef, ...]:
    args = {**image.manifest.build_args, **(overrides or {})}
    found: list[ParentRef] = []
    for ref in image.dockerfile.external_images(args, local=image.manifest.contexts):
        parent = match_parent(ref, names, targets)
        if parent is not None and parent != image.name:
            found.append(ParentRef(parent, ref))
    return tuple(found)


@dataclass(frozen=True)
class Graph:
    """The dependency graph of a catalog."""

    images: Mapping[str, Image]
    parents: Mapping[str, tuple[ParentRef, ...]]
    _children: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Reverse edges, computed once: descendant walks stay linear in the number of edges.
        children: dict[str, list[str]] = {name: [] for name in self.images}
        for name in self.images:
            for parent in self.parent_names(name):
                children[parent].append(name)
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})

    @classmethod
    def build(
        cls, catalog: Catalog, targets: Sequence[Target], overrides: Mapping[str, str] | None = None
    ) -> Graph:
        """Read every Dockerfile's parents; raise :class:`ManifestError` naming any cycle."""
        names = set(catalog.names)
        parents = {i.name: _edges_of(i, names, targets, overrides) for i in catalog.images}
        graph = cls(images={i.name: i for i in catalog.images}, parents=parents)
        graph.waves()  # raises on cycles
        return graph

    def parent_names(self, name: str) -> tuple[str, ...]:
        """Names of the images ``name`` builds on, in Dockerfile order."""
        return tuple(dict.fromkeys(p.image for p in self.parents[name]))

    def children(self, name: str) -> tuple[str, ...]:
        """Images that build directly on ``name``."""
        return self._children[name]

    def descendants(self, names: Iterable[str]) -> set[str]:
        """Every image that builds, directly or not, on any of ``names`` (excluding them)."""
        start = set(names)
        seen: set[str] = set()
        stack = list(start)
        while stack:
            for child in self.children(stack.pop()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen - start

    def ancestors(self, name: str) -> set[str]:
        """Every image ``name`` builds on, directly or not."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            for parent in self.parent_names(stack.pop()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def sorter(self, subset: Iterable[str] | None = None) -> graphlib.TopologicalSorter[str]:
        """A prepared sorter over ``subset`` (default: all); outside edges are dropped."""
        chosen = set(self.images if subset is None else subset)
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for name in self.images:
            if name in chosen:
                sorter.add(name, *(p for p in self.parent_names(name) if p in chosen))
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = list(reversed(exc.args[1]))
            raise DependencyCycleError(cycle=" -> ".join(cycle)) from exc
        return sorter

    def waves(self, subset: Iterable[str] | None = None) -> list[list[str]]:
        """Images in build order: each wave only needs images of earlier waves."""
        sorter = self.sorter(subset)
        waves: list[list[str]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            waves.append(ready)
            sorter.done(*ready)
        return waves
