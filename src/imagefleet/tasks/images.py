"""Tasks that read the repository and touch nothing: list, changed, plan."""

from __future__ import annotations

import json as jsonlib
import os
import textwrap
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ..errors import GithubOutputNeedsMatrixError
from ._common import github_output as write_github_output
from ._common import listify, settings, speaks_errors, step_summary
from .selection import HELP, Selection, plans_for, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from .. import changes as changes_mod
    from .. import content
    from .. import secrets as secrets_mod
    from .. import workflows as workflows_mod
    from ..plan import ImagePlan
    from ..settings import Settings


@task(name="list", help={"json": HELP["json"]})
@speaks_errors
def list_(c: Context, json: bool = False) -> None:
    """List the images in images/: name, base image, parents, version, description."""
    from .. import catalog as catalog_mod
    from ..graph import Graph

    s = settings(c)
    found = catalog_mod.discover(s.images_dir)
    graph = Graph.build(found, s.targets)
    rows: list[dict[str, Any]] = [
        {
            "name": i.name,
            "base": i.base_image(),
            "parents": list(graph.parent_names(i.name)),
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
            (
                str(r["name"]),
                str(r["base"]),
                str(r["version"] or "-"),
                textwrap.shorten(str(r["description"]), 60, placeholder=" …"),
            )
            for r in rows
        ],
    )


def _github_output(change_set: changes_mod.ChangeSet) -> None:
    write_github_output(
        {
            "matrix": jsonlib.dumps(change_set.matrix()),
            "images": jsonlib.dumps(list(change_set.affected)),
            "deleted": jsonlib.dumps(list(change_set.deleted)),
            "any": "true" if change_set.affected else "false",
        }
    )
    step_summary(_change_summary(change_set))


def _change_summary(change_set: changes_mod.ChangeSet) -> str:
    lines = [f"### Images affected since `{change_set.base}`\n\n"]
    if change_set.fallback:
        lines.append(f"> Building everything: {change_set.fallback}\n\n")
    lines.append("| image | why |\n|---|---|\n")
    lines += [f"| `{name}` | {why} |\n" for name, why in change_set.reasons.items()]
    lines += [f"| `{name}` | deleted (not built) |\n" for name in change_set.deleted]
    return "".join(lines)


@task(
    help={
        "base": HELP["base"],
        "include_uncommitted": HELP["include_uncommitted"],
        "json": HELP["json"],
        "github_output": "write matrix=, images=, deleted=, any= to $GITHUB_OUTPUT "
        "(and a summary to $GITHUB_STEP_SUMMARY)",
    }
)
@speaks_errors
def changed(
    c: Context,
    base: str | None = None,
    include_uncommitted: bool = False,
    json: bool = False,
    github_output: bool = False,
) -> None:
    """List the images affected by changes since the merge-base of --base (and descendants)."""
    s = settings(c)
    selection = select(s, [], False, True, base, include_uncommitted)
    change_set = selection.changes
    assert change_set is not None  # noqa: S101 - --changed always yields a change set
    if github_output:
        _github_output(change_set)
    if json:
        console.emit_json(change_set.as_dict())
        return
    for name in change_set.affected:
        console.out.print(name, markup=False)
    for name, why in change_set.reasons.items():
        console.info(f"[dim]{escape(name)}: {escape(why)}[/]")
    for name in change_set.deleted:
        console.info(f"[yellow]deleted:[/] {escape(name)} (not built)")
    if not change_set.affected:
        console.info(f"no image changed since {escape(change_set.base)}")


@task(
    iterable=["image", "build_arg", "platform"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base", "include_uncommitted")},
        "build_arg": "KEY=VALUE build argument, as for build",
        "platform": "target platform(s), as for build",
        "json": HELP["json"],
        "matrix": "print a GitHub Actions matrix per wave (wave-1=[…] … and depth=N), every "
        "wave of the fleet, empty ones as []; no Docker needed",
        "github_output": "with --matrix: write wave-1=, wave-2=, …, depth=, any=, images=, "
        "registry=, registry-host= (and with --changed deleted=) to $GITHUB_OUTPUT, the waves to "
        "$GITHUB_STEP_SUMMARY",
    },
)
@speaks_errors
def plan(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    include_uncommitted: bool = False,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    json: bool = False,
    matrix: bool = False,
    github_output: bool = False,
) -> None:
    """Show what a build would do, in order: waves, parents, tags, args, platforms."""
    s = settings(c)
    if github_output and not matrix:
        raise GithubOutputNeedsMatrixError()
    selection = select(
        s,
        listify(image),
        all,
        changed,
        base,
        include_uncommitted,
        required=False,
        build_args=build_arg,
    )
    if matrix:
        show_matrix(s, selection, json=json, github_output=github_output)
        return
    plans = plans_for(s, selection, build_args=build_arg, platforms=platform, ancestors=True)
    show_plan(s, selection, plans, json=json, explicit_platforms=bool(listify(platform)))


def show_matrix(s: Settings, selection: Selection, *, json: bool, github_output: bool) -> None:
    """The selection's waves as GitHub Actions matrices: one ``wave-N`` per wave of the whole
    fleet (the publish workflow has that many wave jobs), ``[]`` where nothing is to build."""
    from .. import workflows

    waves = workflows.wave_matrix(selection.graph, selection.names)
    outputs = waves.outputs()
    if github_output:
        extra = {
            # Where the wave jobs stage and the promote job tags: fleet.registry, named once.
            "registry": str(s.target),
            "registry-host": s.target.domain,
            **(
                {"deleted": jsonlib.dumps(list(selection.changes.deleted))}
                if selection.changes is not None
                else {}
            ),
        }
        write_github_output({**outputs, **extra})
        step_summary(_wave_summary(waves, selection.changes))
    if json:
        console.emit_json(waves.as_dict())
        return
    console.lines([f"{key}={value}" for key, value in outputs.items()])


def _wave_summary(waves: workflows_mod.WaveMatrix, change_set: changes_mod.ChangeSet | None) -> str:
    lines = ["### Build waves\n\n", "| wave | images |\n|---|---|\n"]
    for number in range(1, waves.deepest + 1):
        names = ", ".join(f"`{n}`" for n in waves.wave(number)) or "(nothing: skipped)"
        lines.append(f"| {number} | {names} |\n")
    lines.append("\n")
    return (_change_summary(change_set) + "\n" if change_set else "") + "".join(lines)


def _decisions(
    s: Settings, selection: Selection, plans: list[ImagePlan], *, explicit_platforms: bool
) -> dict[str, content.Decision] | None:
    """Up to date or build, per image, when the engine answers; None (and a note) otherwise."""
    from .. import content
    from ..engine import Engine
    from ..errors import EnvironmentProblem
    from .build import native_if_needed

    if not plans:
        return {}
    try:
        engine = Engine.connect(s.builder)
    except EnvironmentProblem as exc:
        console.info(f"[yellow]note[/]: content not checked ({escape(exc.message)})")
        return None
    chosen = set(selection.names)
    if not explicit_platforms:
        plans = native_if_needed(engine, plans, quiet=lambda _: True)
    assessment = content.assess(
        engine,
        selection.graph,
        plans,
        chosen,
        cache=s.content_cache,
    )
    return {d.plan.name: d for d in assessment.decisions}


def show_plan(
    s: Settings,
    selection: Selection,
    plans: list[ImagePlan],
    *,
    json: bool,
    explicit_platforms: bool = False,
) -> None:
    """Print the plan (waves, tags, args, and whether each image is up to date or why it needs
    building) as text, or as JSON on stdout. ``plans`` may hold ancestors of the selection."""
    waves = selection.graph.waves(selection.names)
    decisions = _decisions(s, selection, plans, explicit_platforms=explicit_platforms)
    by_name = {p.name: p for p in plans}
    if json:
        console.emit_json(
            {
                "waves": waves,
                "images": [
                    {
                        **by_name[n].as_dict(s.root),
                        "parents": list(selection.graph.parent_names(n)),
                        "wave": i,
                        "content": decisions[n].as_dict() if decisions else None,
                    }
                    for i, wave in enumerate(waves)
                    for n in wave
                ],
                "changes": selection.changes.as_dict() if selection.changes else None,
            }
        )
        return
    lines: list[str] = []  # printed at once: a thousand images are ten thousand lines
    for index, wave in enumerate(waves, 1):
        lines.append(f"wave {index}: {', '.join(wave)}")
        for name in wave:
            p = by_name[name]
            parents = selection.graph.parent_names(name)
            rows = [
                ("base", p.base),
                *([("parents", ", ".join(parents))] if parents else []),
                ("reference", p.local_ref),
                *([("content", _status(decisions[name]))] if decisions else []),
                ("tags", ", ".join(p.tags.tags)),
                ("platforms", ", ".join(p.platforms) or "(daemon default)"),
                *(("arg", f"{k}={v}  ({p.arg_sources[k]})") for k, v in p.build_args.items()),
                *(("secret", _secret(k, v)) for k, v in sorted(p.image.manifest.secrets.items())),
                *(("label", f"{k}={v}") for k, v in p.labels.items()),
            ]
            lines.append(f"  {p.name}  ({p.image.directory.relative_to(s.root)})")
            lines += [f"    {key:<10} {value}" for key, value in rows]
    console.lines(lines)
    if not waves:
        console.info("nothing to build")
    stale = [
        d.plan.name
        for d in (decisions or {}).values()
        if d.plan.name not in selection.names and not d.up_to_date
    ]
    if stale and not json:
        console.info(f"[yellow]out-of-date parents built first[/]: {escape(', '.join(stale))}")


def _secret(name: str, secret: secrets_mod.Secret) -> str:
    """A build secret as the plan shows it: where it comes from and whether it is there now
    (never its value)."""
    from .. import secrets as secrets_mod

    state = "set" if secrets_mod.is_set(secret, os.environ) else "not set"
    return f"{name} from ${secret.env} ({state}{', optional' if secret.optional else ''})"


def _status(decision: content.Decision) -> str:
    if decision.up_to_date:
        where = decision.remote or (decision.image_id or "")[:19]
        return f"up to date ({decision.key.tag}, {where})"
    return f"build: {'; '.join(decision.reasons)}"
