"""Image tasks: list, build, tag, push."""

from __future__ import annotations

import time
from typing import Any

from invoke.context import Context
from invoke.tasks import task

from .. import catalog as catalog_mod
from .. import console
from .. import git as git_mod
from .. import registry as registry_mod
from ..engine import Engine
from ..errors import NotBuiltError, UsageError
from ..plan import ImagePlan, parse_build_args, parse_platforms, plan_images
from ..reference import parse_target
from ..settings import Settings
from ._common import listify, settings, speaks_errors

SELECT_HELP = {
    "image": "image to act on (a directory name under images/); repeat for several",
    "all": "act on every image under images/",
    "json": "print machine-readable JSON on stdout (progress stays on stderr)",
}


def _plans(
    s: Settings,
    image: list[str],
    all_: bool,
    *,
    build_args: list[str] | None = None,
    platforms: list[str] | None = None,
    latest: bool = False,
) -> list[ImagePlan]:
    """Validate every input, then plan; nothing has touched Docker yet."""
    names = listify(image)
    if not names and not all_:
        raise UsageError("no image selected", "pass --image NAME (repeatable) or --all")
    cli_args = parse_build_args(listify(build_args))
    wanted_platforms = parse_platforms(listify(platforms))
    catalog = catalog_mod.discover(s.images_dir)
    chosen = catalog.select(names, all_images=all_)
    if not chosen:
        raise UsageError(
            f"no images found under {s.images_dir}",
            "add a directory with a Dockerfile under images/",
        )
    git = git_mod.state(s.root)
    return plan_images(
        chosen, s, git, cli_args=cli_args, platforms=wanted_platforms, force_latest=latest
    )


@task(name="list", help={"json": SELECT_HELP["json"]})
@speaks_errors
def list_(c: Context, json: bool = False) -> None:
    """List the images in images/: name, base image, version, description."""
    s = settings(c)
    found = catalog_mod.discover(s.images_dir)
    rows: list[dict[str, Any]] = [
        {
            "name": i.name,
            "base": i.base_image(),
            "version": i.version,
            "description": i.description,
            "directory": str(i.directory.relative_to(s.root)),
            "platforms": list(i.manifest.platforms or s.platforms),
        }
        for i in found.images
    ]
    if json:
        console.emit_json(rows)
        return
    console.table(
        f"{len(rows)} images in {s.images_dir.relative_to(s.root)}/",
        ("image", "base", "version", "description"),
        [
            (str(r["name"]), str(r["base"]), str(r["version"] or "-"), str(r["description"]))
            for r in rows
        ],
    )


def _print_plan(plans: list[ImagePlan], s: Settings) -> None:
    for p in plans:
        console.out.print(f"[bold]{p.name}[/]  ({p.image.directory.relative_to(s.root)})")
        console.out.print(f"  base       {p.base}")
        console.out.print(f"  reference  {p.local_ref}")
        console.out.print(f"  tags       {', '.join(p.tags.tags)}")
        console.out.print(f"  platforms  {', '.join(p.platforms) or '(daemon default)'}")
        for key, value in p.build_args.items():
            console.out.print(f"  arg        {key}={value}  [dim]({p.arg_sources.get(key)})[/]")
        for key, value in p.labels.items():
            console.out.print(f"  label      {key}={value}")


@task(
    iterable=["image", "build_arg", "platform"],
    help={
        "image": SELECT_HELP["image"],
        "all": SELECT_HELP["all"],
        "build_arg": "KEY=VALUE build argument; repeatable; wins over image.yml and ARG defaults",
        "platform": "target platform(s), e.g. linux/amd64; repeatable or comma-separated",
        "no_cache": "build without the layer cache",
        "dry_run": "print what would be built (args, labels, tags) and touch nothing",
        "json": SELECT_HELP["json"],
    },
)
@speaks_errors
def build(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    no_cache: bool = False,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Build images with BuildKit (buildx) or the classic builder; tag them <name>:<git sha>."""
    s = settings(c)
    plans = _plans(s, listify(image), all, build_args=build_arg, platforms=platform)
    if dry_run:
        if json:
            console.emit_json({"dry_run": True, "images": [p.as_dict(s.root) for p in plans]})
        else:
            _print_plan(plans, s)
        return
    engine = Engine.connect(s.builder)
    results: list[dict[str, Any]] = []
    for p in plans:
        with console.working(f"build {p.name}") as step:
            image_id = engine.build(p.request(no_cache=no_cache), on_step=step)
        console.info(f"[green]built[/] {p.local_ref}  [dim]{image_id[:19]}  {step.elapsed:.1f}s[/]")
        results.append(
            {
                "image": p.name,
                "reference": p.local_ref,
                "id": image_id,
                "seconds": round(step.elapsed, 2),
                "tags": list(p.tags.tags),
            }
        )
    if json:
        console.emit_json(results)


def _require_built(engine: Engine, p: ImagePlan) -> str:
    image_id = engine.image_id(p.local_ref)
    if image_id is None:
        raise NotBuiltError(
            f"{p.name} has not been built for this commit ({p.local_ref} is missing)",
            f"run `invoke build --image {p.name}` first",
        )
    return image_id


@task(
    iterable=["image"],
    help={
        "image": SELECT_HELP["image"],
        "all": SELECT_HELP["all"],
        "registry": "also tag for this registry: HOST[:PORT]/NAMESPACE",
        "latest": "move latest even when not on the default branch",
        "json": SELECT_HELP["json"],
    },
)
@speaks_errors
def tag(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    registry: str | None = None,
    latest: bool = False,
    json: bool = False,
) -> None:
    """Apply the tag policy (sha, sha-<short>, version, latest) to built images."""
    s = settings(c)
    target = parse_target(registry) if registry else None
    plans = _plans(s, listify(image), all, latest=latest)
    engine = Engine.connect(s.builder)
    results: dict[str, list[str]] = {}
    for p in plans:
        image_id = _require_built(engine, p)
        repositories = [p.name] + ([target.repository(p.name)] if target else [])
        refs = []
        for repository in repositories:
            for t in p.tags.tags:
                engine.tag(image_id, repository, t)
                refs.append(f"{repository}:{t}")
        results[p.name] = refs
        console.info(f"[green]tagged[/] {p.name}: {', '.join(p.tags.tags)}")
    if json:
        console.emit_json(results)


@task(
    iterable=["image"],
    help={
        "image": SELECT_HELP["image"],
        "all": SELECT_HELP["all"],
        "registry": "HOST[:PORT]/NAMESPACE to push to (default: fleet.registry in invoke.yaml)",
        "latest": "move latest even when not on the default branch",
        "json": SELECT_HELP["json"],
    },
)
@speaks_errors
def push(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    registry: str | None = None,
    latest: bool = False,
    json: bool = False,
) -> None:
    """Push built images: immutable tags first, verified by digest, latest last."""
    s = settings(c)
    target = parse_target(registry) if registry else s.target
    plans = _plans(s, listify(image), all, latest=latest)
    engine = Engine.connect(s.builder)
    for p in plans:
        _require_built(engine, p)
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
