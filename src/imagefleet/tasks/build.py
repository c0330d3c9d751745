"""The build task: content decided first, then only what changed is built, parents first."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task
from rich.markup import escape

from .. import console, locks
from ..errors import (
    ImagesFailedError,
    ImagesFailedSkippedError,
    InvalidJobsError,
    StaleParentError,
)
from ..reference import parse_target
from ._common import listify, partial, settings, speaks_errors, waiting, whole_number
from .images import show_plan
from .selection import HELP, Selection, plans_for, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from collections.abc import Callable

    from .. import content, pipeline
    from ..engine import Engine
    from ..plan import ImagePlan
    from ..reference import Target


@task(
    iterable=["image", "build_arg", "platform"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base", "include_uncommitted")},
        "build_arg": "KEY=VALUE build argument; repeatable; wins over image.yml and ARG defaults",
        "platform": "target platform(s), e.g. linux/amd64; repeatable or comma-separated",
        "no_cache": "build without the layer cache (implies --force)",
        "force": "build even images whose content already has an image (see `invoke plan`)",
        "registry": "also look content up in this registry (HOST[:PORT]/NAMESPACE): what is "
        "there is neither pulled nor built; `invoke push` then tags it in the registry",
        "no_deps": "never build parents outside the selection; refuse if one is out of date",
        "jobs": (
            "BuildKit: how many bake calls run at once (each hands up to 100 images to BuildKit, "
            "which builds the independent ones in parallel: more jobs only help past 100); "
            "classic builder: how many images build at once. Dependency order is always kept; "
            "a whole number, default 1"
        ),
        "dry_run": "print what would be built (order, args, labels, tags) and touch nothing",
        "json": HELP["json"],
    },
)
@speaks_errors
def build(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    # Before include_uncommitted: Invoke's automatic short flag would otherwise be "-_".
    no_deps: bool = False,
    include_uncommitted: bool = False,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    no_cache: bool = False,
    force: bool = False,
    registry: str | None = None,
    # Text, not int: Invoke would cast it before the task runs (a traceback for --jobs abc).
    jobs: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Build images whose content changed, in batches through BuildKit; tag <name>:<git sha>."""
    from .. import content, pipeline
    from ..engine import Engine

    s = settings(c)
    workers = whole_number(jobs, default=1)
    if workers is None or workers < 1:
        raise InvalidJobsError(jobs=jobs)
    target = parse_target(registry) if registry else None
    selection = select(
        s, listify(image), all, changed, base, include_uncommitted, build_args=build_arg
    )
    everything = plans_for(s, selection, build_args=build_arg, platforms=platform, ancestors=True)
    chosen = set(selection.names)
    plans = [p for p in everything if p.name in chosen]
    if dry_run:
        show_plan(s, selection, everything, json=json, explicit_platforms=bool(listify(platform)))
        return
    if not plans:
        if json:
            console.emit_json([])
        console.info("nothing to build")
        return
    engine = Engine.connect(s.builder)
    # Decided and built under the images' locks: a second run waits, then finds them built.
    with locks.held(s.root, [p.name for p in everything], what="invoke build", on_wait=waiting):
        if not listify(platform):
            everything = native_if_needed(engine, everything, quiet=set(chosen).__contains__)
        assessment = content.assess(
            engine,
            selection.graph,
            everything,
            chosen,
            force=force or no_cache,
            in_registry=in_registry(target) if target else None,
            cache=s.content_cache,
        )
        _parents_first(assessment, selection, no_deps=no_deps)

        started = time.monotonic()
        current: list[pipeline.Outcome] = []
        for decision in assessment.decisions:
            if decision.up_to_date and decision.plan.name in chosen:
                current.append(_reuse(engine, decision))
        to_build = [content.with_key(d) for d in assessment.to_build]
        ready = {**assessment.ready, **_pull_parents(engine, selection, assessment, to_build)}
        with console.board() as live:
            reporter = _BoardReporter(live, single=len(plans) == 1)
            if len(current) <= _LISTED:
                for outcome in current:
                    reporter.finished(outcome)
            else:  # a fleet: one line, not a thousand
                console.info(f"[green]up-to-date[/] {len(current)} images (content already built)")
            built = pipeline.run(
                engine,
                selection.graph,
                to_build,
                jobs=workers,
                no_cache=no_cache,
                reporter=reporter,
                ready=ready,
            )
        by_name = {o.name: o for o in (*current, *built)}
        outcomes = [by_name[n] for n in [p.name for p in everything] if n in by_name]
        _summarize(outcomes, time.monotonic() - started, json=json)


# Past this many images, up-to-date ones are counted rather than listed one per line.
_LISTED = 50


def _parents_first(assessment: content.Assessment, selection: Selection, *, no_deps: bool) -> None:
    """Say which out-of-date parents outside the selection the run builds first (or refuse)."""
    for stale in assessment.stale_parents:
        child = next(n for n in selection.names if stale.plan.name in selection.graph.ancestors(n))
        if no_deps:
            raise StaleParentError(
                name=child, parent=stale.plan.name, reason="; ".join(stale.reasons)
            )
        console.info(
            f"[yellow]building parent {escape(stale.plan.name)} first[/]: its image is out of date "
            f"({escape('; '.join(stale.reasons))})"
        )


def _summarize(outcomes: list[pipeline.Outcome], seconds: float, *, json: bool) -> None:
    """The run's table (and JSON); raise the run's error when an image failed."""
    images = [o.as_dict() for o in outcomes]
    partial(images=images)  # a failing run prints them beside its error
    current = sum(o.status == "up-to-date" for o in outcomes)
    shown = (
        outcomes if len(outcomes) <= _LISTED else [o for o in outcomes if o.status != "up-to-date"]
    )
    if len(outcomes) > 1:
        console.table(
            f"{len(outcomes)} images in {seconds:.1f}s"
            + (f" ({current} up to date, not listed)" if len(shown) < len(outcomes) else ""),
            ("image", "result", "seconds", "tags / reason"),
            [
                (
                    o.name,
                    o.status,
                    f"{o.seconds:.1f}",
                    ", ".join(o.tags[:2]) + (" …" if len(o.tags) > 2 else "")
                    if o.status in ("built", "up-to-date")
                    else o.reason,
                )
                for o in shown
            ],
            stderr=json,
        )
    failed = [o.name for o in outcomes if o.status == "failed"]
    skipped = [o.name for o in outcomes if o.status == "skipped"]
    if failed:
        first = next(o.error for o in outcomes if o.error is not None)
        if len(outcomes) == 1 and first is not None:
            raise first
        if skipped:
            raise ImagesFailedSkippedError(
                failed=len(failed),
                total=len(outcomes),
                names=", ".join(failed),
                skipped=len(skipped),
                skipped_names=", ".join(skipped),
            )
        raise ImagesFailedError(failed=len(failed), total=len(outcomes), names=", ".join(failed))
    if json:
        console.emit_json(images)


def _reuse(engine: Engine, decision: content.Decision) -> pipeline.Outcome:
    """An up-to-date local image gets this commit's local tag: a tag operation, no build. Content
    found in the registry stays there (nothing is pulled)."""
    from .. import pipeline

    plan = decision.plan
    if decision.image_id is None:
        return pipeline.Outcome(
            plan.name,
            "up-to-date",
            reference=decision.remote,
            tags=plan.tags.tags,
            reason=f"content {decision.key.tag} is in the registry",
        )
    if plan.local_ref not in decision.local_tags:  # a rerun of the same commit tags nothing
        engine.tag(decision.image_id, plan.name, plan.tags.primary)
    return pipeline.Outcome(
        plan.name,
        "up-to-date",
        image_id=decision.image_id,
        reference=plan.local_ref,
        tags=plan.tags.tags,
        reason=f"content {decision.key.tag} already built",
    )


def in_registry(target: Target) -> Callable[[ImagePlan, content.ContentKey], str | None]:
    """Where the registry holds an image's content: ``<repository>@<digest>``, or None."""
    from .. import registry as registry_mod

    def look(plan: ImagePlan, key: content.ContentKey) -> str | None:
        digest = registry_mod.find(target, plan.name, key.tag)
        return f"{target.repository(plan.name)}@{digest}" if digest else None

    return look


def _pull_parents(
    engine: Engine,
    selection: Selection,
    assessment: content.Assessment,
    to_build: list[ImagePlan],
) -> dict[str, str]:
    """Parents whose content is only in the registry, pulled for the children that build on
    them (nothing else is pulled): name -> local content reference."""
    needed = {p for plan in to_build for p in selection.graph.parent_names(plan.name)}
    pulled: dict[str, str] = {}
    for decision in assessment.decisions:
        if decision.plan.name in needed and decision.remote and decision.image_id is None:
            image_id = engine.pull(decision.remote)
            engine.tag(image_id, decision.plan.name, decision.key.tag)
            pulled[decision.plan.name] = decision.key_ref
    return pulled


class _BoardReporter:
    """Shows a build run on the console's board: a live line per image while it builds (plain
    step lines without a terminal), then one result line per image."""

    def __init__(self, live: console.Board, *, single: bool) -> None:
        self._live = live
        self._single = single
        self._lines: dict[str, console.Step] = {}  # images building now

    def started(self, name: str) -> None:
        self._lines[name] = self._live.start(f"build {name}")

    def step(self, name: str, text: str) -> None:
        self._lines[name](text)

    def finished(self, outcome: pipeline.Outcome) -> None:
        line = self._lines.pop(outcome.name, None)
        if line is not None:
            line.close()
        if outcome.status == "built":
            console.info(
                f"[green]built[/] {escape(str(outcome.reference))}  "
                f"[dim]{escape((outcome.image_id or '')[:19])}  {outcome.seconds:.1f}s[/]"
            )
        elif outcome.status == "up-to-date":
            console.info(
                f"[green]up-to-date[/] {escape(str(outcome.reference))}  "
                f"[dim]{escape((outcome.image_id or '')[:19])}[/]"
            )
        elif outcome.status == "failed" and outcome.error is not None:
            if not self._single:  # a single image's error is the run's error, printed once
                console.error(outcome.error)
        else:
            console.info(f"[yellow]skipped[/] {escape(outcome.name)}: {escape(outcome.reason)}")


def native_if_needed(
    engine: Engine, plans: list[ImagePlan], *, quiet: Callable[[str], bool] = lambda _: False
) -> list[ImagePlan]:
    """Platforms from manifests or settings that this daemon cannot hold together (classic image
    store) narrow to its own platform, with a warning (not for images ``quiet`` names); an
    explicit --platform is never changed."""
    several = [p for p in plans if len(p.platforms) > 1]
    if not several or engine.supports_multi_platform():
        return plans
    for p in several:
        if quiet(p.name):
            continue
        console.info(
            f"[yellow]note[/]: {escape(p.name)} lists {escape(', '.join(p.platforms))}; "
            "this Docker daemon's "
            "classic image store holds one platform, so it is built for this machine's only "
            "(enable the containerd image store to build them all)"
        )
    return [replace(p, platforms=()) if len(p.platforms) > 1 else p for p in plans]
