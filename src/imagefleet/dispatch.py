"""Builds on BuildKit nodes: each image placed on a node that lists its platforms
(:mod:`imagefleet.placement`), pushed by digest with its attestations as soon as it is built, its
children given it as ``docker-image://R/<parent>@sha256:…``; a multi-platform image as one bake
target per platform (each its own cache ref), merged into one index in the registry; a fleet SBOM
generator first; at most ``jobs`` builds per node, a failure skipping only its descendants.
Nothing is loaded into or read from the local engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from . import buildx, merge, placement, supplychain
from .engine import BuildRequest
from .errors import FleetError, NoNodeForPlatformError
from .graph import Graph
from .pipeline import Outcome, Reporter, parents_in_run
from .plan import ImagePlan
from .reference import Target
from .registry import is_loopback

LOGGER = logging.getLogger(__name__)

# What builds one image's requests in one bake on one node: (per-node builder name, requests,
# step callback).
BuildOn = Callable[[str, Sequence[BuildRequest], Callable[[str], None]], buildx.NodeResult]
# What merges an image's per-platform pushes (digests, in platform order) into one index in the
# registry: (target, image, digests) -> the index's digest.
Merge = Callable[[Target, str, Sequence[str]], str]


def cache_ref(target: Target, image: str, platform: str) -> str:
    """The registry cache of one image for one platform: ``R/<image>:buildcache-linux-amd64``;
    one writer each (an image builds on one node, each of its platforms as its own bake
    target), so no node or target overwrites another's cache."""
    return f"{target.repository(image)}:buildcache-{platform.replace('/', '-')}"


def _insecure(target: Target) -> str:
    # BuildKit talks HTTPS unless told: a loopback registry (as Docker treats it) is plain HTTP.
    return ",registry.insecure=true" if is_loopback(target.domain) else ""


def node_request(
    plan: ImagePlan,
    target: Target,
    node: buildx.Node,
    parents: Mapping[str, str],
    *,
    platform: str = "",
    no_cache: bool = False,
    cache: bool = False,
    attest: tuple[str, ...] = (supplychain.PROVENANCE,),
) -> BuildRequest:
    """``plan`` (or its ``platform`` alone) as a build on ``node``: pushed by digest (no tag
    yet) to ``target`` with ``attest``, parents (reference -> ``R/<parent>@sha256:…``) as named
    contexts, with the registry cache of its one platform. A plan of several platforms needs
    ``platform``: see :func:`node_requests`."""
    repository = target.repository(plan.name)
    extra = _insecure(target)
    request = plan.request(no_cache=no_cache, parents=parents)
    platforms = (platform,) if platform else plan.platforms
    if len(platforms) > 1:
        raise ValueError(f"{plan.name}: one request per platform ({', '.join(platforms)})")
    refs = [cache_ref(target, plan.name, (platforms or (node.platform,))[0])]
    return replace(
        request,
        tags=(),
        platforms=platforms,
        outputs=(
            f"type=image,name={repository},push-by-digest=true,name-canonical=true,push=true"
            + extra,
        ),
        cache_from=tuple(f"type=registry,ref={r}{extra}" for r in refs) if cache else (),
        cache_to=tuple(f"type=registry,ref={r},mode=max{extra}" for r in refs) if cache else (),
        attest=attest,
    )


def node_requests(
    plan: ImagePlan,
    target: Target,
    node: buildx.Node,
    parents: Mapping[str, str],
    *,
    no_cache: bool = False,
    cache: bool = False,
    attest: tuple[str, ...] = (supplychain.PROVENANCE,),
) -> tuple[BuildRequest, ...]:
    """``plan`` as the bake targets of one bake on ``node``: one, or one per platform (in the
    plan's order) when it has several, so each platform has a cache ref of its own (one
    writer) and is pushed by digest on its own, to be merged into one index."""
    platforms = plan.platforms if len(plan.platforms) > 1 else ("",)
    return tuple(
        node_request(
            plan,
            target,
            node,
            parents,
            platform=platform,
            no_cache=no_cache,
            cache=cache,
            attest=attest,
        )
        for platform in platforms
    )


def check_platforms(plans: Sequence[ImagePlan], nodes: Nodes) -> dict[str, list[str]]:
    """Image -> the nodes (labels) that list all its platforms; raise
    :class:`NoNodeForPlatformError` for the first image no node can build, before anything
    builds."""
    offered = {label: node.platforms for label, node in nodes.nodes.items()}
    allowed = placement.candidates({p.name: p.platforms for p in plans}, offered)
    for plan in plans:
        if not allowed[plan.name]:
            offers = offered.values()
            alone = [p for p in plan.platforms if all(placement.missing([p], o) for o in offers)]
            raise NoNodeForPlatformError(
                image=plan.name,
                platform=", ".join(alone) if alone else " and ".join(plan.platforms) + " at once",
                nodes="; ".join(
                    f"{label} {', '.join(o) or 'unknown'}" for label, o in sorted(offered.items())
                ),
            )
    return allowed


@dataclass(frozen=True)
class Nodes:
    """The nodes a run may use, by label (``builder/node``), with their one-node builders."""

    nodes: Mapping[str, buildx.Node]
    drivers: Mapping[str, str]  # label -> per-node builder name

    @classmethod
    def of(cls, builders: Sequence[buildx.Builder], run: buildx.Runner | None = None) -> Nodes:
        """Every node of ``builders``, each with a one-node builder made (or found) for it."""
        found = {n.label: n for b in builders for n in b.nodes}
        ensure = buildx.ensure_node_builder
        drivers = {
            label: (ensure(node, run) if run else ensure(node)) for label, node in found.items()
        }
        return cls(found, drivers)


def run(
    graph: Graph,
    plans: Sequence[ImagePlan],
    nodes: Nodes,
    target: Target,
    *,
    jobs: int = 1,
    no_cache: bool = False,
    cache: bool = False,
    reporter: Reporter,
    ready: Mapping[str, str] | None = None,
    build_on: BuildOn = buildx.build_on,
    merge_on: Merge = merge.combine,
    generator: supplychain.Generator | None = None,
) -> list[Outcome]:
    """Build ``plans`` on ``nodes``; one outcome per plan, in build order.

    ``ready``: parents not built in this run, as pushed digests (name -> ``R/<name>@sha256:…``).
    ``merge_on``: merges a multi-platform image's per-platform pushes into its one index.
    ``generator``: the SBOM generator; a fleet image of ``plans`` builds before every image
    that is not its ancestor, which then gets ``R/<generator>@sha256:…`` as its generator.
    Raises :class:`NoNodeForPlatformError` before anything builds.
    """
    state = _NodeRun(
        graph, plans, nodes, target, reporter, ready or {}, no_cache, cache, generator, merge_on
    )
    state.go(build_on, max(1, jobs))
    return [state.results[n] for n in state.order]


class _NodeRun:
    """One run's bookkeeping: placement, outcomes so far, the digests children build on."""

    def __init__(
        self,
        graph: Graph,
        plans: Sequence[ImagePlan],
        nodes: Nodes,
        target: Target,
        reporter: Reporter,
        ready: Mapping[str, str],
        no_cache: bool,
        cache: bool,
        generator: supplychain.Generator | None = None,
        merge_on: Merge = merge.combine,
    ) -> None:
        self.graph = graph
        self.by_name = {p.name: p for p in plans}
        waves = graph.waves(self.by_name)
        self.order = [n for wave in waves for n in wave]
        allowed = check_platforms(plans, nodes)
        self.where = placement.place(waves, sorted(nodes.nodes), allowed)
        self.nodes = nodes
        self.target = target
        self.reporter = reporter
        self.no_cache = no_cache
        self.cache = cache
        self.digests: dict[str, str] = dict(ready)  # image -> R/<image>@sha256:…
        self.results: dict[str, Outcome] = {}
        self.generator = generator
        self.merge = merge_on

    def _first(self, name: str) -> str | None:
        """The fleet SBOM generator ``name`` waits for (built in this run), if any."""
        scanner = self.generator.image if self.generator else ""
        waits = scanner in self.by_name and name != scanner
        return scanner if waits and name not in self.graph.ancestors(scanner) else None

    def blocked(self, name: str) -> Outcome | None:
        """A skip if a parent in the run (or the SBOM generator) failed or was skipped."""
        scanner = self._first(name)
        for parent in (*self.graph.parent_names(name), *([scanner] if scanner else [])):
            if parent in self.results and self.results[parent].status != "built":
                why = "failed" if self.results[parent].status == "failed" else "was skipped"
                what = "SBOM generator" if parent == scanner else "parent"
                return Outcome(name, "skipped", reason=f"{what} {parent} {why}")
        return None

    def attest(self, name: str) -> tuple[str, ...]:
        """Provenance, and the SBOM by the run's generator (not for the generator itself, nor
        for its ancestors, built before it)."""
        scanner = self.generator
        if scanner is None or scanner.image == name:
            return supplychain.attest(None)
        if scanner.reference:
            return supplychain.attest(scanner.reference)
        if scanner.image in self.graph.images and name in self.graph.ancestors(scanner.image):
            return supplychain.attest(None)
        return supplychain.attest(self.digests.get(scanner.image))

    def one(self, build_on: BuildOn, name: str, label: str, parents: dict[str, str]) -> Outcome:
        """Build ``name`` on the node ``label`` (on a worker thread)."""
        node = self.nodes.nodes[label]
        plan = self.by_name[name]
        requests = node_requests(
            plan,
            self.target,
            node,
            parents,
            no_cache=self.no_cache,
            cache=self.cache,
            attest=self.attest(name),
        )
        self.reporter.started(name)
        got = build_on(self.nodes.drivers[label], requests, lambda t: self.reporter.step(name, t))
        error = got.error
        digest = got.digests[0] if len(got.digests) == 1 == len(requests) else None
        seconds = got.seconds
        if error is None and len(requests) > 1 and len(got.digests) == len(requests):
            started = time.monotonic()
            try:
                digest = self.merge(self.target, name, got.digests)
            except FleetError as exc:
                error = exc
            seconds += time.monotonic() - started
        if digest is None:
            reason = error.message if error else "BuildKit did not build it"
            return Outcome(
                name,
                "failed",
                seconds,
                reason=reason,
                error=error,
                builder=node.builder,
                node=node.name,
                steps=got.steps,
                cached=got.cached,
            )
        return Outcome(
            name,
            "built",
            seconds,
            reference=f"{self.target.repository(name)}@{digest}",
            tags=plan.tags.tags,
            builder=node.builder,
            node=node.name,
            digest=digest,
            steps=got.steps,
            cached=got.cached,
        )

    def finish(self, outcome: Outcome) -> None:
        self.results[outcome.name] = outcome
        if outcome.status == "built" and outcome.reference:
            self.digests[outcome.name] = outcome.reference
        self.reporter.finished(outcome)

    def go(self, build_on: BuildOn, jobs: int) -> None:
        """Start each image once its parents are done and its node has a free slot."""
        sorter = self.graph.sorter(self.by_name)
        busy = dict.fromkeys(self.nodes.nodes, 0)
        waiting: list[str] = []
        workers = jobs * len(self.nodes.nodes)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="node") as pool:
            running: dict[Future[Outcome], tuple[str, str]] = {}
            try:
                while sorter.is_active():
                    waiting.extend(sorted(sorter.get_ready()))
                    for name in list(waiting):
                        label = self.where[name]
                        skip = self.blocked(name)
                        scanner = self._first(name)
                        if skip is None and scanner and scanner not in self.results:
                            continue  # its SBOM needs the generator's digest
                        if skip is None and busy[label] >= jobs:
                            continue
                        waiting.remove(name)
                        if skip is not None:
                            self.finish(skip)
                            sorter.done(name)
                            continue
                        busy[label] += 1
                        parents = parents_in_run(self.by_name[name], self.graph, self.digests)
                        work = pool.submit(self.one, build_on, name, label, parents)
                        running[work] = (name, label)
                    if not running:
                        continue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        name, label = running.pop(future)
                        busy[label] -= 1
                        self.finish(future.result())
                        sorter.done(name)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
