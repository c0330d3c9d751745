"""Tasks that ship built images: test, tag, push (content built elsewhere is tagged in the
registry or pulled, never rebuilt)."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.tasks import task

from .. import console, locks
from ..console import escape
from ..errors import (
    ChecksFailedError,
    require_built,
)
from ..reference import parse_target
from ._common import listify, output_directory, partial, settings, speaks_errors, waiting
from .build import in_registry
from .selection import HELP, Selection, plans_for, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from .. import content
    from ..engine import Engine
    from ..plan import ImagePlan
    from ..reference import Target
    from ..registry import PushedTag
    from ..settings import Settings


def _remote_content(
    s: Settings, selection: Selection, engine: Engine, target: Target, missing: list[ImagePlan]
) -> dict[str, content.Decision]:
    """For images not built here: those whose current content is in the registry."""
    from .. import content

    if not missing:
        return {}
    everything = plans_for(s, selection, ancestors=True)
    names = {p.name for p in missing}
    assessment = content.assess(
        engine,
        selection.graph,
        everything,
        names,
        in_registry=in_registry(target),
        cache=s.content_cache,
    )
    return {d.plan.name: d for d in assessment.decisions if d.plan.name in names and d.remote}


def tag_current_content(
    s: Settings, selection: Selection, engine: Engine, plans: list[ImagePlan]
) -> list[ImagePlan]:
    """Give this commit's local tag to each of ``plans`` whose current content is built here
    under an earlier commit's tag (``build`` leaves those untagged): one request per image.
    Returns the plans that still have no local image for this commit."""
    from .. import content
    from .build import tag_for_commit

    missing = {p.name for p in plans if engine.image_id(p.local_ref) is None}
    if not missing:
        return []
    everything = plans_for(s, selection, ancestors=True)
    assessment = content.assess(engine, selection.graph, everything, missing, cache=s.content_cache)
    missing -= tag_for_commit(engine, assessment.decisions, missing)
    return [p for p in plans if p.name in missing]


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
    selection = select(s, listify(image), all, changed, base)
    plans = plans_for(s, selection, latest=latest)
    engine = Engine.connect(s.builder)
    tag_current_content(s, selection, engine, plans)
    ids = {p.name: require_built(engine, p.local_ref, p.name) for p in plans}
    results: dict[str, list[str]] = {}
    partial(images=results)  # filled in as it goes: a failing run prints what was tagged
    for p in plans:
        repositories = [p.name] + ([target.repository(p.name)] if target else [])
        refs = []
        for repository in repositories:
            for t in p.tags.tags:
                engine.tag(ids[p.name], repository, t)
                refs.append(f"{repository}:{t}")
        results[p.name] = refs
        console.info(f"[green]tagged[/] {escape(p.name)}: {escape(', '.join(p.tags.tags))}")
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
    """Push built images in dependency order: immutable sha tags first, verified, latest last."""
    from ..engine import Engine

    s = settings(c)
    target = parse_target(registry) if registry else s.target
    selection = select(s, listify(image), all, changed, base)
    plans = plans_for(s, selection, latest=latest)
    engine = Engine.connect(s.builder)
    missing = tag_current_content(s, selection, engine, plans)
    remote = _remote_content(s, selection, engine, target, missing)
    for p in missing:  # refused before the locks: bad input leaves not even a lock file
        if p.name not in remote:
            require_built(engine, p.local_ref, p.name)
    # Pushed under the images' locks: a second push (or build) of them waits for this one.
    with locks.held(s.locks_dir, [p.name for p in plans], what="invoke push", on_wait=waiting):
        results: dict[str, dict[str, Any]] = {}
        partial(images=results)  # filled in as it goes: a failing run prints what was pushed

        def record(name: str, pushed: list[PushedTag]) -> None:
            results[name] = {t.reference: t.digest for t in pushed}

        pushed_by = push_plans(s, engine, target, plans, remote, on_pushed=record)
        _report(s, target, plans, pushed_by, results, "pushed tags", json=json)


def push_plans(
    s: Settings,
    engine: Engine,
    target: Target,
    plans: list[ImagePlan],
    remote: dict[str, content.Decision],
    *,
    on_pushed: Callable[[str, list[PushedTag]], None] = lambda name, pushed: None,
) -> dict[str, list[PushedTag]]:
    """Push each built plan (or tag in the registry the content found there, ``remote``), in
    order: immutable tags first, each read back, ``latest`` last; name -> its verified tags
    (``on_pushed`` hears each image as it is done)."""
    from .. import content
    from .. import registry as registry_mod

    pushed_by: dict[str, list[PushedTag]] = {}
    for p in plans:
        started = time.monotonic()
        with console.working(f"push {p.name} → {target}") as step:
            if p.name in remote:
                # Built from the same content elsewhere: tag it in the registry, upload nothing.
                pushed = registry_mod.retag(
                    target,
                    p.name,
                    remote[p.name].key.tag,
                    p.tags,
                    attempts=s.push_attempts,
                    max_wait=s.push_max_wait,
                    on_tag=lambda t: step(f"{t.reference.rsplit(':', 1)[1]} tagged, verified"),
                )
            else:
                key = engine.labels(p.local_ref).get(content.KEY_LABEL)
                pushed = registry_mod.push(
                    engine,
                    p.local_ref,
                    target,
                    p.name,
                    content.with_key_tag(p.tags, key),
                    attempts=s.push_attempts,
                    max_wait=s.push_max_wait,
                    on_tag=lambda t: step(f"{t.reference.rsplit(':', 1)[1]} verified"),
                )
        pushed_by[p.name] = pushed
        on_pushed(p.name, pushed)
        digest = pushed[0].digest if pushed else "-"
        console.info(
            f"[green]pushed[/] {escape(target.repository(p.name))} "
            f"({len(pushed)} tags, {escape(digest[:19])}…, {time.monotonic() - started:.1f}s)"
        )
    return pushed_by


@task(
    help={
        "digests": "what `build --push --digests DIR` recorded: that directory (every *.json in "
        'it) or one JSON file, {"<image>": "sha256:…"}',
        "registry": "HOST[:PORT]/NAMESPACE the digests were pushed to (default: fleet.registry)",
        "latest": "move latest even when not on the default branch",
        "json": HELP["json"],
    },
)
@speaks_errors
def promote(
    c: Context,
    digests: str | None = None,
    registry: str | None = None,
    latest: bool = False,
    json: bool = False,
) -> None:
    """Tag images pushed by digest, in the registry: sha tags first (verified), latest last."""
    from .. import staging
    from ..errors import MissingFlagError

    s = settings(c)
    if not digests:
        raise MissingFlagError(task="promote", flags="--digests", usage="--digests digests/")
    target = parse_target(registry) if registry else s.target
    recorded = staging.read(Path(digests))
    selection = select(s, sorted(recorded), False)
    plans = plans_for(s, selection, latest=latest)
    started = time.monotonic()
    with console.working(f"promote {len(plans)} image(s) in {target}") as step:
        pushed_by = staging.promote(
            target,
            [(p.name, recorded[p.name], p.tags) for p in plans],
            attempts=s.push_attempts,
            max_wait=s.push_max_wait,
            on_tag=lambda name, t: step(f"{name}:{t.reference.rsplit(':', 1)[1]} verified"),
        )
    results: dict[str, dict[str, Any]] = {
        name: {t.reference: t.digest for t in tags} for name, tags in pushed_by.items()
    }
    for p in plans:
        console.info(
            f"[green]promoted[/] {escape(target.repository(p.name))}"
            f"@{escape(recorded[p.name][:19])}… "
            f"({len(pushed_by[p.name])} tags)"
        )
    console.info(f"[dim]{time.monotonic() - started:.1f}s[/]")
    _report(s, target, plans, pushed_by, results, "promoted tags", json=json)


def _report(
    s: Settings,
    target: Target,
    plans: list[ImagePlan],
    pushed_by: dict[str, list[PushedTag]],
    results: dict[str, dict[str, Any]],
    title: str,
    *,
    json: bool,
) -> None:
    """What push and promote print: the tags and digests (a table, or ``results`` as JSON with
    each image's announcement), once the availability announcements are made."""
    table = [(ref, d) for tags in results.values() for ref, d in tags.items()]
    for name, announcement in _announce(s, target, plans, pushed_by, json=json).items():
        # Beside the tags (whose keys all hold a ':'): readers of the old shape go on working.
        results[name]["announcement"] = announcement
    if json:
        console.emit_json(results)
    else:
        console.table(title, ("tag", "digest"), table)


def _announce(
    s: Settings,
    target: Target,
    plans: list[ImagePlan],
    pushed_by: dict[str, list[PushedTag]],
    *,
    json: bool,
) -> dict[str, dict[str, Any]]:
    """Tell the step summary and the notification targets what the push made available; return
    each image's announcement for ``--json`` (none asked for: no registry reads, nothing sent)."""
    from .. import notify

    urls = notify.targets(s)
    if not (json or urls or os.environ.get(notify.SUMMARY_ENV)):
        return {}
    announcements = [
        notify.announce(
            p,
            target,
            pushed_by[p.name],
            notify.read_facts(target, p.name, pushed_by[p.name][0].digest),
        )
        for p in plans
        if pushed_by.get(p.name)
    ]
    notify.write_step_summary(announcements)
    sent, _ = notify.send(urls, announcements)
    if sent:
        console.info(f"[green]notified[/] {escape(', '.join(sent))}")
    return {a.image: a.as_dict() for a in announcements}


@task(
    name="test",
    iterable=["image"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base")},
        "junit": "write JUnit XML reports into this directory (one per image and suite)",
        "registry": "pull images not built here whose content is in this registry "
        "(HOST[:PORT]/NAMESPACE)",
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
    registry: str | None = None,
    json: bool = False,
) -> None:
    """Run built images' tests: structure.yaml and tests/test_*.py, their parents' too."""
    from .. import testing
    from ..engine import Engine

    s = settings(c)
    target = parse_target(registry) if registry else None
    selection = select(s, listify(image), all, changed, base)
    plans = plans_for(s, selection)
    junit_dir = output_directory("--junit", junit) if junit else None
    engine = Engine.connect(s.builder)
    missing = tag_current_content(s, selection, engine, plans)
    remote = _remote_content(s, selection, engine, target, missing) if target else {}
    for p in missing:
        if p.name in remote:  # the content was built elsewhere: pull it to run it
            engine.tag(engine.pull(str(remote[p.name].remote)), p.name, p.tags.primary)
        require_built(engine, p.local_ref, p.name)
    results: list[testing.SuiteResult] = []
    done: list[dict[str, Any]] = []
    partial(images=done)  # a failing run prints the suites that ran beside its error

    def report(result: testing.SuiteResult) -> None:
        done.append(result.as_dict())
        mark = "[green]passed[/]" if result.ok else "[red]failed[/]"
        whose = "" if result.source == result.image else f" (from {result.source})"
        console.info(
            f"{mark} {escape(result.image)} {escape(result.kind)}{escape(whose)}: "
            f"{result.passed:d} passed, "
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
            console.info(
                f"[yellow]no tests[/] for {escape(p.name)} (add images/{escape(p.name)}/tests/)"
            )
        results.extend(found)
    failed = [r for r in results if not r.ok]
    if failed:
        checks = sum(len(r.failures) for r in failed)
        names = "; ".join(f"{r.image}: {', '.join(r.failures)}" for r in failed)
        raise ChecksFailedError(
            count=checks,
            images=", ".join(sorted({r.image for r in failed})),
            failures=textwrap.shorten(names, 400, placeholder=" …"),
        )
    if json:
        console.emit_json([r.as_dict() for r in results])
