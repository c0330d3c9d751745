"""The build task: content decided first, then only what changed is built, parents first."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ..errors import (
    CacheUnsupportedError,
    ImagesFailedError,
    ImagesFailedSkippedError,
    InvalidJobsError,
    StaleParentError,
)
from ..reference import parse_target
from ._common import (
    ask_early,
    listify,
    locked_for_build,
    partial,
    settings,
    speaks_errors,
    whole_number,
)
from .images import show_plan
from .selection import HELP, Selection, plans_for, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .. import content, pipeline
    from ..engine import BuildRequest, Engine
    from ..plan import ImagePlan
    from ..reference import Target
    from ..settings import Settings


@task(
    iterable=["image", "build_arg", "platform", "builder"],
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
            "BuildKit: how many batches run at once (each hands up to 100 images to BuildKit in "
            "one bake call, two for a deep batch, whose roots get a head start; BuildKit builds "
            "the independent ones in parallel: more jobs only help past 100); "
            "classic builder: how many images build at once. Dependency order is always kept; "
            "a whole number, default 1"
        ),
        "builder": "auto, buildx or classic (the local engine), or a buildx builder's name: "
        "its BuildKit nodes build the images, each placed on a node by the tool (needs --push "
        "and --registry); repeatable; default: fleet.builder",
        "push": "push what was built (or tag in the registry what it holds), tags verified, "
        "latest last; on BuildKit nodes each image goes by digest first, tags once all passed",
        "cache": "none or registry: read and write a build cache per image and platform "
        "(<registry>/<image>:buildcache-<os>-<arch>); default: fleet.cache",
        "digests": "on BuildKit nodes: a directory of digests files (<image>.json, as earlier CI "
        "jobs wrote them): parents found there are built on by digest; each image of this run is "
        "recorded there and no tag moves (`invoke promote --digests` moves them later)",
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
    # After the flags above, so their automatic short flags stay what they were.
    builder: list[str] | None = None,
    push: bool = False,
    cache: str | None = None,
    digests: str | None = None,
) -> None:
    """Build images whose content changed, in batches through BuildKit; tag <name>:<git sha>."""
    ask_early(c)
    from .. import content, pipeline
    from ..engine import Engine

    s = settings(c)
    workers = _jobs(jobs)
    target = parse_target(registry) if registry else None
    local, named, cache_mode = _how(s, listify(builder), cache)
    selection = select(
        s, listify(image), all, changed, base, include_uncommitted, build_args=build_arg
    )
    everything = plans_for(s, selection, build_args=build_arg, platforms=platform, ancestors=True)
    # A step that prints its secret must not have the tool repeat it (a failed step's log tail).
    console.mask(x.env for p in everything for x in p.image.manifest.secrets.values())
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
    from .nodes import build_on_nodes, node_builders

    nodes = node_builders(named, push=push, target=target, digests=digests)
    if nodes:
        assert target is not None  # noqa: S101 - node_builders refuses a run without one
        build_on_nodes(
            s,
            selection,
            everything,
            chosen,
            target,
            nodes,
            jobs=workers,
            force=force or no_cache,
            no_cache=no_cache,
            cache=cache_mode == "registry",
            json=json,
            digests=Path(digests) if digests else None,
            build_args=build_arg,
        )
        return
    engine = Engine.connect("buildx" if named else local)
    cache_target = target or s.target
    prepare = _registry_cache(engine, cache_target) if cache_mode == "registry" else None
    # Decided and built under the images' locks: a second run waits, then finds them built.
    with locked_for_build(s, [p.name for p in everything]):
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
        parents_first(assessment, selection, no_deps=no_deps)

        started = time.monotonic()
        current = [
            _reuse(d) for d in assessment.decisions if d.up_to_date and d.plan.name in chosen
        ]
        to_build = [content.with_key(d) for d in assessment.to_build]
        secrets_ready(to_build, buildkit=engine.use_buildx)
        ready = {**assessment.ready, **_pull_parents(engine, selection, assessment, to_build)}
        with console.board() as live:
            reporter = BoardReporter(live, single=len(plans) == 1)
            if len(current) <= LISTED:
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
                prepare=prepare,
            )
        by_name = {o.name: o for o in (*current, *built)}
        outcomes = [by_name[n] for n in [p.name for p in everything] if n in by_name]
        if push and not any(o.status in ("failed", "skipped") for o in outcomes):
            outcomes = _push_local(
                s, engine, selection, assessment, plans, target or s.target, outcomes
            )
        summarize(outcomes, time.monotonic() - started, json=json)


def _jobs(jobs: str | None) -> int:
    workers = whole_number(jobs, default=1)
    if workers is None or workers < 1:
        raise InvalidJobsError(jobs=jobs)
    return workers


def secrets_ready(plans: list[ImagePlan], *, buildkit: bool = True) -> None:
    """Refuse, before anything builds, images whose build secrets cannot be mounted: the classic
    builder has no secret mounts, and a required secret's variable must be set. Only images the
    run builds count: an up-to-date image needs no secret."""
    from .. import secrets

    secrets.require_buildkit(plans, buildkit=buildkit)
    secrets.require(plans, os.environ)


def _how(s: Settings, builders: list[str], cache: str | None) -> tuple[str, tuple[str, ...], str]:
    """(local engine mode, named buildx builders, cache kind) from the flags, else settings."""
    from ..settings import split_builders

    local, named = (
        split_builders(builders, source="--builder") if builders else (s.builder, s.builders)
    )
    cache_mode = cache or s.cache
    if cache_mode not in ("none", "registry"):
        raise CacheUnsupportedError(
            cache=cache_mode, reason="not a cache kind", next_step="use --cache none or registry"
        )
    return local, named, cache_mode


def _registry_cache(engine: Engine, target: Target) -> Callable[[BuildRequest], BuildRequest]:
    """A registry cache on the local engine: only BuildKit with the containerd image store can
    export one (the docker driver's classic store only writes inline caches)."""
    from dataclasses import replace as replaced

    from ..dispatch import cache_ref

    if not engine.use_buildx:
        raise CacheUnsupportedError(
            cache="registry",
            reason="the classic builder has no cache export",
            next_step="install the buildx plugin, or build on BuildKit nodes (--builder NAME)",
        )
    if not engine.supports_multi_platform():
        raise CacheUnsupportedError(
            cache="registry",
            reason="the Docker engine's classic image store exports inline caches only",
            next_step='enable the containerd image store ({"features": {"containerd-snapshotter":'
            " true}} in /etc/docker/daemon.json), or build on BuildKit nodes (--builder NAME)",
        )

    def prepare(request: BuildRequest) -> BuildRequest:
        ref = cache_ref(target, request.image, "-".join(request.platforms) or "native")
        return replaced(
            request,
            cache_from=(f"type=registry,ref={ref}",),
            cache_to=(f"type=registry,ref={ref},mode=max",),
        )

    return prepare


def _push_local(
    s: Settings,
    engine: Engine,
    selection: Selection,
    assessment: content.Assessment,
    plans: list[ImagePlan],
    target: Target,
    outcomes: list[pipeline.Outcome],
) -> list[pipeline.Outcome]:
    """``build --push`` on the local engine: what ``invoke push`` does, in the same task."""
    from .publish import push_plans

    tag_for_commit(engine, assessment.decisions, {p.name for p in plans})
    remote = {
        d.plan.name: d
        for d in assessment.decisions
        if d.plan.name in {p.name for p in plans} and d.remote and d.image_id is None
    }
    pushed = push_plans(s, engine, target, plans, remote)
    return [
        replace(o, digest=pushed[o.name][0].digest) if pushed.get(o.name) else o for o in outcomes
    ]


# Past this many images, up-to-date ones are counted rather than listed one per line.
LISTED = 50


def parents_first(assessment: content.Assessment, selection: Selection, *, no_deps: bool) -> None:
    """Say which out-of-date parents outside the selection the run builds first (or refuse)."""
    for stale in assessment.stale_parents:
        child = next(
            (n for n in selection.names if stale.plan.name in selection.graph.ancestors(n)), None
        )
        if child is None:  # no parent: the SBOM generator of builds on nodes (or its ancestor)
            console.info(
                f"[yellow]building {escape(stale.plan.name)} first[/]: the SBOM generator needs "
                f"it ({escape('; '.join(stale.reasons))})"
            )
            continue
        if no_deps:
            raise StaleParentError(
                name=child, parent=stale.plan.name, reason="; ".join(stale.reasons)
            )
        console.info(
            f"[yellow]building parent {escape(stale.plan.name)} first[/]: its image is out of date "
            f"({escape('; '.join(stale.reasons))})"
        )


def summarize(outcomes: list[pipeline.Outcome], seconds: float, *, json: bool) -> None:
    """The run's table (and JSON); raise the run's error when an image failed."""
    images = [o.as_dict() for o in outcomes]
    partial(images=images)  # a failing run prints them beside its error
    current = sum(o.status == "up-to-date" for o in outcomes)
    shown = (
        outcomes if len(outcomes) <= LISTED else [o for o in outcomes if o.status != "up-to-date"]
    )
    on_nodes = any(o.node for o in outcomes)
    if len(outcomes) > 1:
        console.table(
            f"{len(outcomes)} images in {seconds:.1f}s"
            + (f" ({current} up to date, not listed)" if len(shown) < len(outcomes) else ""),
            ("image", "result", *(("node",) if on_nodes else ()), "seconds", "tags / reason"),
            [
                (
                    o.name,
                    o.status,
                    *((f"{o.builder}/{o.node}" if o.node else o.builder,) if on_nodes else ()),
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


def _reuse(decision: content.Decision) -> pipeline.Outcome:
    """An image whose content is already built: no build, and no tag request either. This
    commit's local tag comes when a task needs it (:func:`tag_for_commit`): the engine rewrites
    its whole reference store for every tag, so tagging a 1,000-image fleet's unchanged images
    on each commit cost seconds. Content found in the registry stays there (nothing is pulled)."""
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
    named = next(
        (r for r in (plan.local_ref, decision.key_ref) if r in decision.local_tags),
        decision.image_id,
    )
    return pipeline.Outcome(
        plan.name,
        "up-to-date",
        image_id=decision.image_id,
        reference=named,
        tags=plan.tags.tags,
        reason=f"content {decision.key.tag} already built",
    )


def tag_for_commit(
    engine: Engine, decisions: Iterable[content.Decision], names: set[str]
) -> set[str]:
    """Give this commit's local tag (``<name>:<sha>``) to each of ``names`` whose current content
    is built here under another commit: what test, tag, push and scan act on. Returns the names
    tagged."""
    tagged = set()
    for d in decisions:
        if (
            d.plan.name in names
            and d.up_to_date
            and d.image_id
            and d.plan.local_ref not in d.local_tags
        ):
            engine.tag(d.image_id, d.plan.name, d.plan.tags.primary)
            tagged.add(d.plan.name)
    return tagged


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


class BoardReporter:
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
        if outcome.status == "built" and outcome.node:
            console.info(
                f"[green]built[/] {escape(outcome.name)} on "
                f"{escape(outcome.builder)}/{escape(outcome.node)}  "
                f"[dim]{escape((outcome.digest or '')[:19])}  {outcome.seconds:.1f}s[/]"
            )
        elif outcome.status == "built":
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
