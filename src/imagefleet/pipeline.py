"""Run a set of planned builds in dependency order: batches of images handed to BuildKit at once
(``docker buildx bake``), or one image at a time on the classic builder.

With BuildKit, images go in build order into batches of at most :data:`BATCH_MAX`; a parent in
the same batch is a ``target:`` context, one built before (or ``ready``) a local image; BuildKit
runs the independent images of a batch in parallel, and ``jobs`` batches run at once when they
share no images. Images a failure cancelled go again; a batch BuildKit dropped as a whole (no
target failed) goes again without what it exported, up to :data:`DROP_RETRIES` times. With the
classic builder an image starts as soon as its parents have finished, ``jobs`` at once. Either
way a failed image skips its descendants, with the reason, while unrelated images go on.
Progress goes to a :class:`Reporter`; how it looks is the caller's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .engine import BuildRequest, Engine, TargetResult, TargetStepCallback
from .errors import BuildDroppedError, BuildFailedError, FleetError
from .graph import Graph
from .plan import ImagePlan

LOGGER = logging.getLogger(__name__)

Status = Literal["built", "up-to-date", "failed", "skipped"]

# Images per bake call: one call is faster than many, but a failure cancels its whole batch.
BATCH_MAX = 100
# A batch BuildKit dropped (a lost job, a killed client) goes again this often, after a pause
# that lets a restarting daemon come back; what it exported is kept.
DROP_RETRIES = 3
DROP_PAUSE = 2.0


@dataclass(frozen=True)
class Outcome:
    """What happened to one image."""

    name: str
    status: Status
    seconds: float = 0.0
    image_id: str | None = None
    reference: str | None = None
    tags: tuple[str, ...] = ()
    reason: str = ""
    error: FleetError | None = None
    builder: str = "local"  # the buildx builder, or "local": the local engine
    node: str | None = None  # the BuildKit node of ``builder`` that built it
    digest: str | None = None  # the pushed manifest (or index) digest
    steps: int = 0  # build steps BuildKit showed (counted on BuildKit nodes)
    cached: int = 0  # of which it took from a cache

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "image": self.name,
            "status": self.status,
            "builder": self.builder,
            "node": self.node,
            "digest": self.digest,
            "seconds": round(self.seconds, 2),
            "id": self.image_id,
            "reference": self.reference,
            "tags": list(self.tags),
            "reason": self.reason,
            "steps": self.steps,
            "cached_steps": self.cached,
        }


class Reporter(Protocol):
    """Where :func:`run` reports progress. ``started`` and ``step`` come from the build threads
    (several images at once), ``finished`` from the thread that called ``run``. An image of a
    batch starts at its first step in BuildKit's log (or at its end, if it showed none)."""

    def started(self, name: str) -> None:
        """``name`` starts building."""

    def step(self, name: str, text: str) -> None:
        """``name``'s build reached a step (``[2/5] RUN …``)."""

    def finished(self, outcome: Outcome) -> None:
        """``outcome.name`` is done: built, failed, or skipped (then it never started, or only
        showed steps in a batch that another image's failure cancelled)."""


class Quiet:
    """Reports nothing."""

    def started(self, name: str) -> None:
        pass

    def step(self, name: str, text: str) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass


def parents_in_run(plan: ImagePlan, graph: Graph, built: Mapping[str, str]) -> dict[str, str]:
    """References to parents in ``built`` (image -> local image) -> their local images; digest
    pins stay pinned."""
    return {
        ref.reference: built[ref.image]
        for ref in graph.parents[plan.name]
        if ref.image in built and "@" not in ref.reference
    }


def run(
    engine: Engine,
    graph: Graph,
    plans: Sequence[ImagePlan],
    *,
    jobs: int = 1,
    no_cache: bool = False,
    reporter: Reporter | None = None,
    ready: Mapping[str, str] | None = None,
    prepare: Callable[[BuildRequest], BuildRequest] | None = None,
) -> list[Outcome]:
    """Build ``plans``; return one outcome per plan, in build order.

    ``ready``: parents not built in this run but present locally (image name -> local image),
    which their children here build on instead of pulling the published parent. ``prepare``
    finishes each request (e.g. adds a registry cache).
    """
    state = _Run(graph, plans, reporter or Quiet(), ready or {}, no_cache, prepare)
    if engine.use_buildx:
        state.batches(engine, max(1, jobs))
    else:
        state.one_by_one(engine, max(1, jobs))
    return [state.results[n] for n in state.order]


class _Run:
    """One run's bookkeeping: outcomes so far and the local images children build on."""

    def __init__(
        self,
        graph: Graph,
        plans: Sequence[ImagePlan],
        report: Reporter,
        ready: Mapping[str, str],
        no_cache: bool,
        prepare: Callable[[BuildRequest], BuildRequest] | None = None,
    ) -> None:
        self.prepare = prepare or (lambda request: request)
        self.graph = graph
        self.by_name = {p.name: p for p in plans}
        self.order = [n for wave in graph.waves(self.by_name) for n in wave]
        self.report = report
        self.no_cache = no_cache
        self.results: dict[str, Outcome] = {}
        self.local = dict(ready)  # image -> local image, for children: ready, then built here
        self._started: set[str] = set()
        self._lock = threading.Lock()

    def start(self, name: str) -> None:
        with self._lock:
            first = name not in self._started
            self._started.add(name)
        if first:
            self.report.started(name)

    def finish(self, outcome: Outcome) -> None:
        if outcome.status != "skipped":
            self.start(outcome.name)
        self.results[outcome.name] = outcome
        if outcome.status == "built":
            self.local[outcome.name] = self.by_name[outcome.name].local_ref
        self.report.finished(outcome)

    def blocked(self, name: str) -> Outcome | None:
        """A skip if a parent in the run failed or was skipped."""
        for parent in self.graph.parent_names(name):
            if parent in self.results and self.results[parent].status != "built":
                why = "failed" if self.results[parent].status == "failed" else "was skipped"
                return Outcome(name, "skipped", reason=f"parent {parent} {why}")
        return None

    def skip_blocked(self) -> None:
        for name in self.order:  # build order: a skip reaches grandchildren in one pass
            if name not in self.results and (skip := self.blocked(name)) is not None:
                self.finish(skip)

    # -- BuildKit: batches ------------------------------------------------------------------

    def batches(self, engine: Engine, jobs: int) -> None:
        queue = _batches(self.order, self.graph, BATCH_MAX)

        def requests(batch: list[str]) -> list[BuildRequest]:
            # Made by the caller's thread: `self.local` grows there as batches finish.
            members = set(batch)
            return [
                self.prepare(
                    self.by_name[n].request(
                        no_cache=self.no_cache,
                        parents=parents_in_run(self.by_name[n], self.graph, self.local),
                        batch_parents={
                            ref.reference: ref.image
                            for ref in self.graph.parents[n]
                            if ref.image in members and "@" not in ref.reference
                        },
                    )
                )
                for n in batch
            ]

        def step(name: str, text: str) -> None:
            self.start(name)
            self.report.step(name, text)

        drops: dict[str, int] = {}  # image -> how many bakes of it BuildKit dropped
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bake") as pool:
            running: dict[Future[dict[str, TargetResult]], list[str]] = {}
            try:
                while queue or running:
                    for batch in list(queue):
                        if len(running) < jobs and self._ready(batch):
                            queue.remove(batch)
                            pause = DROP_PAUSE if any(n in drops for n in batch) else 0.0
                            work = (engine.build_batch, requests(batch), step)
                            running[pool.submit(_after, pause, *work)] = batch
                    assert running, f"no batch can start: {queue}"  # noqa: S101 - graph is a DAG
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = running.pop(future)
                        got = future.result()
                        rerun = self._settle(batch, got)
                        why = next((got[n].dropped for n in rerun if got[n].dropped), "")
                        if why:
                            queue[:0] = self._dropped(batch, rerun, why, drops)
                        # Cancelled by a sibling's failure: again (the cache keeps finished work);
                        # a failure filed under nobody is found by running the first image alone.
                        elif len(rerun) == len(batch) and len(batch) > 1:
                            queue[:0] = [rerun[:1], rerun[1:]]
                        elif rerun:
                            queue.insert(0, rerun)
                    self.skip_blocked()
                    queue = [
                        b for b in ([n for n in b if n not in self.results] for b in queue) if b
                    ]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _ready(self, batch: list[str]) -> bool:
        members = set(batch)
        return all(
            p in self.results or p in members or p not in self.by_name
            for n in batch
            for p in self.graph.parent_names(n)
        )

    def _settle(self, batch: list[str], got: Mapping[str, TargetResult]) -> list[str]:
        """Record what a batch built or failed; return the images it did not run."""
        rerun = []
        for name in batch:
            result = got[name]
            if result.image_id is not None:
                plan = self.by_name[name]
                self.finish(
                    Outcome(
                        name,
                        "built",
                        result.seconds,
                        result.image_id,
                        plan.local_ref,
                        plan.tags.tags,
                    )
                )
            elif result.error is not None or (len(batch) == 1 and not result.dropped):
                # A lone image is never cancelled: not run and not dropped, it cannot build.
                error = result.error or BuildFailedError(
                    image=name, reason="BuildKit did not build it", details=()
                )
                self.finish(
                    Outcome(name, "failed", result.seconds, reason=error.message, error=error)
                )
            else:
                rerun.append(name)
        self.skip_blocked()
        return [n for n in rerun if n not in self.results]

    def _dropped(
        self, batch: list[str], rerun: list[str], why: str, drops: dict[str, int]
    ) -> list[list[str]]:
        """BuildKit dropped ``batch`` with ``rerun`` not exported: the batch to queue again (the
        exported images stay built), or none, and then they fail, after too many drops."""
        attempt = 1 + max(drops.get(n, 0) for n in rerun)
        drops.update(dict.fromkeys(rerun, attempt))
        if attempt > DROP_RETRIES:
            for name in rerun:
                error = BuildDroppedError(image=name, attempts=attempt, reason=why)
                self.finish(Outcome(name, "failed", reason=error.message, error=error))
            return []
        LOGGER.warning(
            "BuildKit dropped a batch of %d images (%s); %d done, the other %d go again "
            "(retry %d of %d)",
            len(batch),
            why,
            len(batch) - len(rerun),
            len(rerun),
            attempt,
            DROP_RETRIES,
        )
        return [rerun]

    # -- classic builder: one image per call ------------------------------------------------

    def one_by_one(self, engine: Engine, jobs: int) -> None:
        sorter = self.graph.sorter(self.by_name)

        def build_one(plan: ImagePlan, parents: dict[str, str]) -> Outcome:
            started = time.monotonic()
            request = self.prepare(plan.request(no_cache=self.no_cache, parents=parents))
            self.start(plan.name)
            try:
                image_id = engine.build(request, on_step=lambda t: self.report.step(plan.name, t))
            except FleetError as exc:
                seconds = time.monotonic() - started
                return Outcome(plan.name, "failed", seconds, reason=exc.message, error=exc)
            seconds = time.monotonic() - started
            return Outcome(plan.name, "built", seconds, image_id, plan.local_ref, plan.tags.tags)

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="build") as pool:
            running: dict[Future[Outcome], str] = {}
            try:
                while sorter.is_active():
                    for name in sorted(sorter.get_ready()):
                        if (skip := self.blocked(name)) is not None:
                            self.finish(skip)
                            sorter.done(name)
                            continue
                        plan = self.by_name[name]
                        parents = parents_in_run(plan, self.graph, self.local)
                        running[pool.submit(build_one, plan, parents)] = name
                    if not running:
                        continue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        outcome = future.result()
                        self.finish(outcome)
                        sorter.done(outcome.name)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def _after(
    pause: float,
    build: Callable[[list[BuildRequest], TargetStepCallback], dict[str, TargetResult]],
    requests: list[BuildRequest],
    on_step: TargetStepCallback,
) -> dict[str, TargetResult]:
    """``build`` after ``pause`` seconds, on a build thread (the caller's keeps settling)."""
    time.sleep(pause)
    return build(requests, on_step)


def _batches(order: Sequence[str], graph: Graph, limit: int) -> list[list[str]]:
    """``order`` (build order) cut into batches of at most ``limit``. Connected images share a
    batch where they fit, so batches that share nothing can run side by side; a family larger
    than ``limit`` is cut in build order, its parts then wait for each other."""
    chosen = set(order)
    family: dict[str, str] = {}  # image -> first image of its connected family (union-find)

    def root(name: str) -> str:
        while family.setdefault(name, name) != name:
            name = family[name]
        return name

    for name in order:
        for parent in graph.parent_names(name):
            if parent in chosen:
                family[root(name)] = root(parent)
    families: dict[str, list[str]] = {}
    for name in order:
        families.setdefault(root(name), []).append(name)
    batches: list[list[str]] = []
    for members in families.values():
        if batches and len(batches[-1]) + len(members) <= limit:
            batches[-1].extend(members)
        else:
            batches.extend(list(members[i : i + limit]) for i in range(0, len(members), limit))
    return [sorted(b, key=order.index) for b in batches]
