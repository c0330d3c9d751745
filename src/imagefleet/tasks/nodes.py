"""``invoke build`` on BuildKit nodes: the named builders' nodes, each image placed and pushed by
digest, tags made in the registry once the whole run has passed."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from .. import console
from ..console import escape
from ..errors import DigestsNeedNodesError, RegistryNeededError
from .build import (
    LISTED,
    BoardReporter,
    in_registry,
    parents_first,
    secrets_ready,
    summarize,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .. import buildx, supplychain
    from ..plan import ImagePlan
    from ..reference import Target
    from ..settings import Settings
    from ..tags import TagSet
    from .selection import Selection


def node_builders(
    named: tuple[str, ...], *, push: bool, target: Target | None, digests: str | None = None
) -> list[buildx.Builder]:
    """The named builders that build on BuildKit nodes (not the local engine's docker driver);
    a run on them needs --push and --registry, and only such a run takes --digests."""
    found: list[buildx.Builder] = []
    if named:
        from .. import buildx

        found = [b for b in buildx.resolve(named) if not b.local]
    if found and not (push and target):
        raise RegistryNeededError(builders=",".join(named))
    if digests and not found:
        raise DigestsNeedNodesError(digests=digests)
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
    digests: Path | None = None,
    build_args: list[str] | None = None,
) -> None:
    """Build on the builders' BuildKit nodes, each image pushed by digest; once every image has
    passed, its tags are made in the registry (immutable first, ``latest`` last, verified).

    ``digests``: a directory of digests files (:mod:`.staging`): parents an earlier CI job
    recorded there are built on by that digest, and every image of this run is recorded there.
    Provenance always; SBOMs from ``fleet.sbom_generator`` (:func:`with_sbom_generator`, which
    adds a fleet generator image to the run); ``build_args``: ``--build-arg`` values.
    """
    from .. import content, dispatch, merge, pipeline, staging
    from .. import registry as registry_mod

    everything, generator = with_sbom_generator(s, selection, everything, build_args)

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
    if digests is not None and any(digests.glob("*.json")):
        recorded = staging.read(digests)  # parents built by earlier jobs of this CI run
        ready.update(
            {
                name: f"{target.repository(name)}@{digest}"
                for name, digest in recorded.items()
                if name in ready and name not in chosen
            }
        )
    to_build = [content.with_key(d) for d in assessment.to_build]
    secrets_ready(to_build)
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
            merge_on=partial(merge.combine, attempts=s.push_attempts, max_wait=s.push_max_wait),
            generator=generator,
        )
    by_name = {o.name: o for o in (*current, *built)}
    outcomes = [by_name[p.name] for p in everything if p.name in by_name]
    keys = {d.plan.name: d.key for d in assessment.decisions}
    fresh = [o for o in built if o.status == "built" and o.digest]
    if fresh:
        # The content-key tag at once (it names content, never moves): another job's children
        # and `invoke test --registry` find the image by it before any tag is promoted.
        registry_mod.promote(
            target,
            [(o.name, str(o.digest), _key_only(keys[o.name].tag)) for o in fresh],
            attempts=s.push_attempts,
            max_wait=s.push_max_wait,
        )
    if digests is not None:
        # Staged for `invoke promote` (a later CI job), which moves the tags: none move here.
        staged = [o for o in outcomes if o.digest and o.name in chosen]
        for o in staged:
            staging.record(digests, o.name, str(o.digest))
        console.info(f"recorded {len(staged)} digest(s) in {escape(str(digests))} for promote")
    elif all(o.status in ("built", "up-to-date") for o in outcomes):
        with console.working(f"tag {len(outcomes)} images in {target}") as step:
            registry_mod.promote(
                target,
                [
                    (
                        o.name,
                        str(o.digest),
                        content.with_key_tag(assessment.of(o.name).plan.tags, keys[o.name].digest),
                    )
                    for o in outcomes
                ],
                attempts=s.push_attempts,
                max_wait=s.push_max_wait,
                on_tag=lambda _, t: step(f"{t.reference} verified"),
            )
        console.info(
            f"[green]tagged[/] {len(outcomes)} images in {escape(str(target))}, latest last"
        )
    summarize(outcomes, time.monotonic() - started, json=json)


def with_sbom_generator(
    s: Settings, selection: Selection, everything: list[ImagePlan], build_args: list[str] | None
) -> tuple[list[ImagePlan], supplychain.Generator | None]:
    """The run's SBOM generator (``fleet.sbom_generator``), and the plans with a fleet
    generator image (and its ancestors) added first when the selection left them out: the
    run then builds it, if its content is new, before the images whose SBOM it makes."""
    from dataclasses import replace

    from .. import supplychain
    from .selection import plans_for

    generator = supplychain.generator(s.sbom_generator, selection.catalog.names)
    if generator is None:
        if s.sbom_generator:
            console.info(
                f"[yellow]note[/]: no SBOM attestations: this fleet has no image "
                f"{escape(s.sbom_generator)} (fleet.sbom_generator: a fleet image, a reference, "
                'or "" for none)'
            )
        return everything, None
    have = {p.name for p in everything}
    if not generator.image or generator.image in have:
        return everything, generator
    alone = replace(selection, names=(generator.image,), changes=None)
    extra = plans_for(s, alone, build_args=build_args, ancestors=True)
    return [p for p in extra if p.name not in have] + everything, generator


def _key_only(tag: str) -> TagSet:
    from ..tags import TagSet

    return TagSet(primary=tag, tags=(tag,))
