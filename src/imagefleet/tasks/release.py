"""The release task: per-image versions from Conventional Commits, as annotated git tags."""

from __future__ import annotations

import json as jsonlib
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ._common import (
    github_output,
    listify,
    require_github_output,
    settings,
    speaks_errors,
)
from .selection import HELP, select

# The library is imported inside the task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from ..release import Decision


def _github_output(decisions: list[Decision]) -> None:
    released = [d.image for d in decisions if d.releases]
    github_output(
        {
            "released": jsonlib.dumps(released),
            "tags": jsonlib.dumps([d.tag for d in decisions if d.tag]),
            "image_args": " ".join(f"--image {n}" for n in released),
            "any": "true" if released else "false",
        }
    )


def _show(decisions: list[Decision], *, dry_run: bool) -> None:
    verb = "would release" if dry_run else "released"
    for d in decisions:
        if d.releases:
            how = f"{d.current} → {d.next}, {d.bump}: " if d.current else ""
            console.info(
                f"[green]{verb}[/] {escape(d.image)} {escape(str(d.next))}  "
                f"[dim]({escape(how)}{escape(d.reason)})[/]"
            )
            for change in d.changes:
                if change.bump:
                    console.info(f"  [dim]{escape(change.short_sha)}[/] {escape(change.header)}")
        else:
            where = f" since {d.current}" if d.current else ""
            console.info(
                f"[dim]{escape(d.image)}: nothing to release{escape(where)} ({escape(d.reason)})[/]"
            )


@task(
    iterable=["image"],
    help={
        **{k: HELP[k] for k in ("image", "all", "changed", "base")},
        "dry_run": "show the next versions and the commits that decide them; tag nothing",
        "json": "print per image: current and next version, bump, tag, commits (JSON on stdout)",
        "changelog": "also write images/<name>/CHANGELOG.md (for teams that commit it)",
        "push": "push the new release tags to --remote, atomically (all or none)",
        "remote": "the git remote --push pushes to (default: origin)",
        "github_output": "write released=, tags=, image_args=, any= to $GITHUB_OUTPUT",
    },
)
@speaks_errors
def release(
    c: Context,
    image: list[str] | None = None,
    all: bool = False,
    changed: bool = False,
    base: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    changelog: bool = False,
    push: bool = False,
    remote: str = "origin",
    github_output: bool = False,
) -> None:
    """Release images whose Conventional Commits call for it: tag <image>-v<version> at HEAD."""
    from .. import git as git_mod
    from .. import release as release_mod
    from .. import versions

    s = settings(c)
    selection = select(s, listify(image), all, changed, base)
    # Refused before a tag is made: a release that fails half-way leaves nothing behind.
    if github_output:
        require_github_output()
    if push and not dry_run:
        release_mod.check_remote(s.root, remote)
    state = git_mod.state(s.root)
    releases = versions.index(s.root, selection.catalog.names)
    with console.working("reading commits since each image's last release"):
        decisions = release_mod.decide(s, selection.graph, selection.names, releases, state.sha)
    created: list[str] = []
    if not dry_run:
        created = release_mod.create_tags(s.root, decisions)
        if push and created:
            with console.working(f"push {len(created)} release tags → {remote}"):
                release_mod.push_tags(s.root, remote, created)
        if changelog:
            for d in decisions:
                if d.releases:
                    path = selection.catalog.get(d.image).directory / release_mod.CHANGELOG
                    if release_mod.write_changelog(path, d, state.committed_at):
                        console.info(f"[green]wrote[/] {escape(str(path.relative_to(s.root)))}")
    if github_output:
        _github_output(decisions)
    if json:
        console.emit_json(
            {
                "dry_run": dry_run,
                "commit": state.sha,
                "images": [d.as_dict() for d in decisions],
                "created": created,
                "pushed": created if push else [],
            }
        )
        return
    _show(decisions, dry_run=dry_run)
    if not any(d.releases for d in decisions):
        console.info("nothing to release")
