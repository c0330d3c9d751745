"""Run a set of planned builds in dependency order, independent images in parallel.

An image starts as soon as every parent built in the same run has finished (so a fast branch of
the graph does not wait for a slow sibling); at most ``jobs`` build at once. A failed image skips
its descendants, with the reason, while unrelated images go on. Progress goes to a
:class:`Reporter`; how it looks is the caller's business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .engine import Engine
from .errors import FleetError
from .graph import Graph
from .plan import ImagePlan

LOGGER = logging.getLogger(__name__)

Status = Literal["built", "up-to-date", "failed", "skipped"]


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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "image": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "id": self.image_id,
            "reference": self.reference,
            "tags": list(self.tags),
            "reason": self.reason,
        }


class Reporter(Protocol):
    """Where :func:`run` reports progress. ``started`` and ``step`` come from the build threads
    (several images at once with ``jobs`` > 1), ``finished`` from the thread that called ``run``."""

    def started(self, name: str) -> None:
        """``name`` starts building."""

    def step(self, name: str, text: str) -> None:
        """``name``'s build reached a step (``[2/5] RUN …``)."""

    def finished(self, outcome: Outcome) -> None:
        """``outcome.name`` is done: built, failed, or skipped (then it never started)."""


class _Quiet:
    """Reports nothing."""

    def started(self, name: str) -> None:
        pass

    def step(self, name: str, text: str) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass


def parents_in_run(plan: ImagePlan, graph: Graph, built: Mapping[str, str]) -> dict[str, str]:
    """References to parents built in this run (or ready before it) -> their local images
    (digest pins stay pinned)."""
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
) -> list[Outcome]:
    """Build ``plans``; return one outcome per plan, in build order. ``ready``: parents not built
    in this run but up to date locally (image name -> local reference), which children build on."""
    report = reporter or _Quiet()
    by_name = {p.name: p for p in plans}
    order = [n for wave in graph.waves(by_name) for n in wave]
    sorter = graph.sorter(by_name)
    results: dict[str, Outcome] = {}
    built: dict[str, str] = dict(ready or {})

    def finish(outcome: Outcome) -> None:
        results[outcome.name] = outcome
        if outcome.status == "built":
            built[outcome.name] = by_name[outcome.name].local_ref
        sorter.done(outcome.name)
        report.finished(outcome)

    def build_one(plan: ImagePlan, parents: dict[str, str]) -> Outcome:
        started = time.monotonic()
        request = plan.request(no_cache=no_cache, parents=parents)
        report.started(plan.name)
        try:
            image_id = engine.build(request, on_step=lambda text: report.step(plan.name, text))
        except FleetError as exc:
            return Outcome(
                plan.name, "failed", time.monotonic() - started, reason=exc.message, error=exc
            )
        return Outcome(
            plan.name, "built", time.monotonic() - started, image_id, plan.local_ref, plan.tags.tags
        )

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="build") as pool:
        running: dict[Future[Outcome], str] = {}
        try:
            while sorter.is_active():
                for name in sorted(sorter.get_ready()):
                    bad = next(
                        (
                            p
                            for p in graph.parent_names(name)
                            if p in results and results[p].status != "built"
                        ),
                        None,
                    )
                    if bad is not None:
                        why = "failed" if results[bad].status == "failed" else "was skipped"
                        finish(Outcome(name, "skipped", reason=f"parent {bad} {why}"))
                        continue
                    plan = by_name[name]
                    running[pool.submit(build_one, plan, parents_in_run(plan, graph, built))] = name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    finish(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[n] for n in order]
