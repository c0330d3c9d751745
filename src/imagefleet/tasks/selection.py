"""Selecting images on the command line (--image, --all, --changed) and planning them: shared by
every task that acts on images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import NoSelectionError, SelectionConflictError
from ._common import listify

if TYPE_CHECKING:
    from .. import catalog as catalog_mod
    from .. import changes as changes_mod
    from ..graph import Graph
    from ..plan import ImagePlan
    from ..settings import Settings

HELP = {
    "image": "image to act on (a directory name under images/); repeat for several",
    "all": "act on every image under images/",
    "changed": "act on the images changed since --base, and everything built on them",
    "base": "git ref to compare with (its merge-base with HEAD); default: origin/<default branch>",
    "include_uncommitted": "with --changed: count uncommitted and untracked files too",
    "json": (
        "print machine-readable JSON on stdout (progress stays on stderr; "
        'a failing run prints one {"error": …} object there)'
    ),
}


@dataclass(frozen=True)
class Selection:
    """The images a command acts on, with the graph and (for --changed) the change set."""

    catalog: catalog_mod.Catalog
    graph: Graph
    names: tuple[str, ...]  # in build order
    changes: changes_mod.ChangeSet | None = None


def select(
    s: Settings,
    image: list[str],
    all_: bool,
    changed: bool = False,
    base: str | None = None,
    include_uncommitted: bool = False,
    *,
    required: bool = True,
    build_args: list[str] | None = None,
) -> Selection:
    """Validate the selection flags and resolve them to images in build order."""
    # Imported here, not at the top: `invoke --list` loads this module and needs none of them.
    from .. import catalog as catalog_mod
    from .. import changes as changes_mod
    from ..graph import Graph
    from ..plan import parse_build_args

    names = listify(image)
    cli_args = parse_build_args(listify(build_args))
    modes = sum((bool(names), all_, changed))
    if modes > 1:
        raise SelectionConflictError()
    if modes == 0 and required:
        raise NoSelectionError()
    found = catalog_mod.discover(s.images_dir)
    graph = Graph.build(found, s.targets, cli_args)  # build args can change what FROM names
    if changed:
        change_set = changes_mod.detect(
            s,
            found,
            graph,
            base or f"origin/{s.default_branch}",
            include_uncommitted=include_uncommitted,
        )
        return Selection(found, graph, change_set.affected, change_set)
    chosen = {i.name for i in found.select(names, all_images=all_ or not names)}
    return Selection(found, graph, tuple(n for w in graph.waves(chosen) for n in w))


def plans_for(
    s: Settings,
    selection: Selection,
    *,
    build_args: list[str] | None = None,
    platforms: list[str] | None = None,
    latest: bool = False,
    ancestors: bool = False,
) -> list[ImagePlan]:
    """Plan the selected images (with ``ancestors``: their in-repo ancestors too, parents
    first); nothing has touched Docker yet."""
    from .. import git as git_mod
    from .. import versions
    from ..plan import parse_build_args, parse_platforms, plan_images

    cli_args = parse_build_args(listify(build_args))
    wanted_platforms = parse_platforms(listify(platforms))
    names = list(selection.names)
    if ancestors:
        wanted = set(names).union(*(selection.graph.ancestors(n) for n in names))
        names = [n for wave in selection.graph.waves(wanted) for n in wave]
    images = [selection.catalog.get(n) for n in names]
    if not images:
        return []
    git = git_mod.state(s.root)
    # Every image's release tags in one git call, not one per image.
    releases = versions.index(s.root, selection.catalog.names)
    return plan_images(
        images,
        s,
        git,
        cli_args=cli_args,
        platforms=wanted_platforms,
        force_latest=latest,
        releases=releases,
    )
