"""``invoke build`` on BuildKit nodes: the named builders' nodes, each image placed and pushed by
digest, tags made in the registry once the whole run has passed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.markup import escape

from .. import console
from ..errors import RegistryNeededError
from .build import LISTED, BoardReporter, in_registry, parents_first, summarize

if TYPE_CHECKING:
    from .. import buildx
    from ..plan import ImagePlan
    from ..reference import Target
    from ..settings import Settings
    from .selection import Selection


def node_builders(
    named: tuple[str, ...], *, push: bool, target: Target | None
) -> list[buildx.Builder]:
    """The named builders that build on BuildKit nodes (not the local engine's docker driver);
    a run on them needs --push and --registry."""
    if not named:
        return []
    from .. import buildx

    found = [b for b in buildx.resolve(named) if not b.local]
    if found and not (push and target):
        raise RegistryNeededError(builders=",".join(named))
    return found


def build_on_nodes(
    s: Settings,
    selection: Selection,
    everything: list[ImagePlan],
    chosen: set[str],
    target: Target,
    builders: list[buildx.Builder],
    *,
    jobs: int,
    force: bool,
    no_cache: bool,
    cache: bool,
    json: bool,
) -> None:
    """Build on the builders' BuildKit nodes, each image pushed by digest; once every image has
    passed, its tags are made in the registry (immutable first, ``latest`` last, verified)."""
    from .. import content, dispatch, pipeline
    from .. import registry as registry_mod

    assessment = content.assess(
        None,
        selection.graph,
        everything,
        chosen,
        force=force,
        in_registry=in_registry(target),
        cache=s.content_cache,
    )
    parents_first(assessment, selection, no_deps=False)
    started = time.monotonic()
    current = [
        pipeline.Outcome(
            d.plan.name,
            "up-to-date",
            reference=d.remote,
            tags=d.plan.tags.tags,
            reason=f"content {d.key.tag} is in the registry",
            builder=",".join(b.name for b in builders),
            digest=(d.remote or "").rpartition("@")[2] or None,
        )
        for d in assessment.decisions
        if d.up_to_date and d.plan.name in chosen
    ]
    ready = {d.plan.name: str(d.remote) for d in assessment.decisions if d.up_to_date}
    to_build = [content.with_key(d) for d in assessment.to_build]
    nodes = dispatch.Nodes.of(builders)
    with console.board() as live:
        reporter = BoardReporter(live, single=len(chosen) == 1)
        for outcome in current[:LISTED]:
            reporter.finished(outcome)
        built = dispatch.run(
            selection.graph,
            to_build,
            nodes,
            target,
            jobs=jobs,
            no_cache=no_cache,
            cache=cache,
            reporter=reporter,
            ready=ready,
        )
    by_name = {o.name: o for o in (*current, *built)}
    outcomes = [by_name[p.name] for p in everything if p.name in by_name]
    if all(o.status in ("built", "up-to-date") for o in outcomes):
        keys = {d.plan.name: d.key.digest for d in assessment.decisions}
        with console.working(f"tag {len(outcomes)} images in {target}") as step:
            registry_mod.promote(
                target,
                [
                    (
                        o.name,
                        str(o.digest),
                        content.with_key_tag(assessment.of(o.name).plan.tags, keys[o.name]),
                    )
                    for o in outcomes
                ],
                attempts=s.push_attempts,
                max_wait=s.push_max_wait,
                on_tag=lambda t: step(f"{t.reference} verified"),
            )
        console.info(
            f"[green]tagged[/] {len(outcomes)} images in {escape(str(target))}, latest last"
        )
    summarize(outcomes, time.monotonic() - started, json=json)
