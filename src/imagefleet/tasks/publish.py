"""Tasks that make and ship images: build, test, tag, push."""

from __future__ import annotations

import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task
from rich.markup import escape

from .. import console
from ..errors import (
    ChecksFailedError,
    ImagesFailedError,
    ImagesFailedSkippedError,
    InvalidJobsError,
    require_built,
)
from ..reference import parse_target
from ._common import listify, settings, speaks_errors
from .images import show_plan
from .selection import HELP, plans_for, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from .. import pipeline
    from ..engine import Engine
    from ..plan import ImagePlan


@task(
    iterable=["image", "build_arg", "platform"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base", "include_uncommitted")},
        "build_arg": "KEY=VALUE build argument; repeatable; wins over image.yml and ARG defaults",
        "platform": "target platform(s), e.g. linux/amd64; repeatable or comma-separated",
        "no_cache": "build without the layer cache",
        "jobs": (
            "BuildKit: how many bake calls run at once (each hands up to 100 images to BuildKit, "
            "which builds the independent ones in parallel: more jobs only help past 100); "
            "classic builder: how many images build at once. Dependency order is always kept; "
            "default 1"
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
    include_uncommitted: bool = False,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    no_cache: bool = False,
    jobs: int = 1,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Build images in dependency order, in batches through BuildKit; tag them <name>:<git sha>."""
    from .. import pipeline
    from ..engine import Engine

    s = settings(c)
    if jobs < 1:
        raise InvalidJobsError(jobs=jobs)
    selection = select(
        s, listify(image), all, changed, base, include_uncommitted, build_args=build_arg
    )
    plans = plans_for(s, selection, build_args=build_arg, platforms=platform)
    if dry_run:
        show_plan(s, selection, plans, json=json)
        return
    if not plans:
        if json:
            console.emit_json([])
        console.info("nothing to build")
        return
    engine = Engine.connect(s.builder)
    if not listify(platform):
        plans = native_if_needed(engine, plans)

    started = time.monotonic()
    with console.board() as live:
        outcomes = pipeline.run(
            engine,
            selection.graph,
            plans,
            jobs=jobs,
            no_cache=no_cache,
            reporter=_BoardReporter(live, single=len(plans) == 1),
        )
    if json:
        console.emit_json([o.as_dict() for o in outcomes])
    if len(outcomes) > 1:
        console.table(
            f"{len(outcomes)} images in {time.monotonic() - started:.1f}s",
            ("image", "result", "seconds", "tags / reason"),
            [
                (
                    o.name,
                    o.status,
                    f"{o.seconds:.1f}",
                    ", ".join(o.tags[:2]) + (" …" if len(o.tags) > 2 else "")
                    if o.status == "built"
                    else o.reason,
                )
                for o in outcomes
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


@task(
    iterable=["image"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base")},
        "registry": "also tag for this registry: HOST[:PORT]/NAMESPACE",
        "latest": "move latest even when not on the default branch",
        "json": HELP["json"],
    },
)
@speaks_errors
def tag(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    registry: str | None = None,
    latest: bool = False,
    json: bool = False,
) -> None:
    """Apply the tag policy (sha, sha-<short>, version, latest) to built images."""
    from ..engine import Engine

    s = settings(c)
    target = parse_target(registry) if registry else None
    plans = plans_for(s, select(s, listify(image), all, changed, base), latest=latest)
    engine = Engine.connect(s.builder)
    ids = {p.name: require_built(engine, p.local_ref, p.name) for p in plans}
    results: dict[str, list[str]] = {}
    for p in plans:
        repositories = [p.name] + ([target.repository(p.name)] if target else [])
        refs = []
        for repository in repositories:
            for t in p.tags.tags:
                engine.tag(ids[p.name], repository, t)
                refs.append(f"{repository}:{t}")
        results[p.name] = refs
        console.info(f"[green]tagged[/] {p.name}: {', '.join(p.tags.tags)}")
    if json:
        console.emit_json(results)


@task(
    iterable=["image"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base")},
        "registry": "HOST[:PORT]/NAMESPACE to push to (default: fleet.registry in invoke.yaml)",
        "latest": "move latest even when not on the default branch",
        "json": HELP["json"],
    },
)
@speaks_errors
def push(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    registry: str | None = None,
    latest: bool = False,
    json: bool = False,
) -> None:
    """Push built images in dependency order: immutable tags first, verified, latest last."""
    from .. import registry as registry_mod
    from ..engine import Engine

    s = settings(c)
    target = parse_target(registry) if registry else s.target
    plans = plans_for(s, select(s, listify(image), all, changed, base), latest=latest)
    engine = Engine.connect(s.builder)
    for p in plans:
        require_built(engine, p.local_ref, p.name)
    results: dict[str, dict[str, str]] = {}
    for p in plans:
        started = time.monotonic()
        with console.working(f"push {p.name} → {target}") as step:
            pushed = registry_mod.push(
                engine,
                p.local_ref,
                target,
                p.name,
                p.tags,
                attempts=s.push_attempts,
                max_wait=s.push_max_wait,
                on_tag=lambda t: step(f"{t.reference.rsplit(':', 1)[1]} verified"),
            )
        results[p.name] = {t.reference: t.digest for t in pushed}
        digest = pushed[0].digest if pushed else "-"
        console.info(
            f"[green]pushed[/] {target.repository(p.name)} "
            f"({len(pushed)} tags, {digest[:19]}…, {time.monotonic() - started:.1f}s)"
        )
    if json:
        console.emit_json(results)
    else:
        console.table(
            "pushed tags",
            ("tag", "digest"),
            [(ref, d) for tags in results.values() for ref, d in tags.items()],
        )


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
                f"[green]built[/] {outcome.reference}  "
                f"[dim]{(outcome.image_id or '')[:19]}  {outcome.seconds:.1f}s[/]"
            )
        elif outcome.status == "failed" and outcome.error is not None:
            if not self._single:  # a single image's error is the run's error, printed once
                console.error(outcome.error)
        else:
            console.info(f"[yellow]skipped[/] {outcome.name}: {escape(outcome.reason)}")


def native_if_needed(engine: Engine, plans: list[ImagePlan]) -> list[ImagePlan]:
    """Platforms from manifests or settings that this daemon cannot hold together (classic image
    store) narrow to its own platform, with a warning; an explicit --platform is never changed."""
    several = [p for p in plans if len(p.platforms) > 1]
    if not several or engine.supports_multi_platform():
        return plans
    for p in several:
        console.info(
            f"[yellow]note[/]: {p.name} lists {', '.join(p.platforms)}; this Docker daemon's "
            "classic image store holds one platform, so it is built for this machine's only "
            "(enable the containerd image store to build them all)"
        )
    return [replace(p, platforms=()) if len(p.platforms) > 1 else p for p in plans]


@task(
    name="test",
    iterable=["image"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base")},
        "junit": "write JUnit XML reports into this directory (one per image and suite)",
        "json": HELP["json"],
    },
)
@speaks_errors
def run_tests(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    junit: str | None = None,
    json: bool = False,
) -> None:
    """Run built images' tests: structure.yaml and tests/test_*.py, their parents' too."""
    from .. import testing
    from ..engine import Engine

    s = settings(c)
    selection = select(s, listify(image), all, changed, base)
    plans = plans_for(s, selection)
    engine = Engine.connect(s.builder)
    for p in plans:
        require_built(engine, p.local_ref, p.name)
    junit_dir = Path(junit).resolve() if junit else None
    results: list[testing.SuiteResult] = []

    def report(result: testing.SuiteResult) -> None:
        mark = "[green]passed[/]" if result.ok else "[red]failed[/]"
        whose = "" if result.source == result.image else f" (from {result.source})"
        console.info(
            f"{mark} {result.image} {result.kind}{whose}: {result.passed} passed, "
            f"{len(result.failures)} failed  [dim]{result.seconds:.1f}s[/]"
        )
        for name in result.failures:
            console.info(f"  [red]x[/] {escape(name)}")

    for p in plans:
        with console.working(f"test {p.name}"):
            found = testing.run(
                engine,
                p.image,
                p.local_ref,
                selection.graph,
                junit_dir=junit_dir,
                on_suite=report,
            )
        if not found:
            console.info(f"[yellow]no tests[/] for {p.name} (add images/{p.name}/tests/)")
        results.extend(found)
    if json:
        console.emit_json([r.as_dict() for r in results])
    failed = [r for r in results if not r.ok]
    if failed:
        checks = sum(len(r.failures) for r in failed)
        names = "; ".join(f"{r.image}: {', '.join(r.failures)}" for r in failed)
        raise ChecksFailedError(
            count=checks,
            images=", ".join(sorted({r.image for r in failed})),
            failures=textwrap.shorten(names, 400, placeholder=" …"),
        )
