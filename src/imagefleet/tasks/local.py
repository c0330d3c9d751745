"""Tasks that run things where you work: an image over the current directory (run, shell), and
the repository's workflows with act."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ..errors import MissingFlagError, NothingToRunError, PullFailedError, RunPullFailedError
from ._common import listify, settings, speaks_errors
from .selection import Selection, select

# The library is imported inside each task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from ..engine import Engine
    from ..settings import Settings

LOGGER = logging.getLogger(__name__)

RUN_HELP = {
    "image": "the image to run (a directory name under images/)",
    "tag": "run the local <image>:TAG (default: the build of the image's current files; "
    "with --pull: latest)",
    "pull": "pull <registry>/<image>:TAG first and run that",
    "env": "pass this environment variable's value through (its name only); repeat for several",
    "as_caller": "run as your uid:gid even when the image declares a non-root USER",
}


def _reference(
    s: Settings, engine: Engine, selection: Selection, tag: str | None, pull: bool
) -> str:
    """The reference to run: pulled from the registry (``--pull``), the local ``--tag``, or the
    local image of the image's current content (its files as they are now, committed or not),
    else the build of this commit."""
    from .. import content
    from ..reference import validate_tag
    from ..tags import DIRTY_SUFFIX
    from .selection import plans_for

    name = selection.names[0]
    remote = f"{s.target.repository(name)}:{validate_tag(tag or 'latest')}"
    if pull:
        try:
            engine.pull(remote)
        except PullFailedError as exc:
            raise RunPullFailedError(
                name=name, ref=remote, reason=exc.fields["reason"], host=s.target.domain
            ) from exc
        return remote
    if tag:
        ref = f"{name}:{validate_tag(tag)}"
        if engine.image_id(ref) is None:
            raise NothingToRunError(name=name, missing=f"{ref} does not exist", remote=remote)
        return ref
    # The image of the files as they are now, when one was built.
    plans = plans_for(s, selection, ancestors=True)
    decision = content.assess(engine, selection.graph, plans, {name}, cache=s.content_cache).of(
        name
    )
    if decision.image_id is not None:
        return decision.key_ref
    # Else this commit's build, clean or dirty: a file the command wrote into the checkout
    # makes the tree dirty, and must not hide the image the previous run used.
    primary = next(p.tags.primary for p in plans if p.name == name)
    sha = primary.removesuffix(DIRTY_SUFFIX)
    for ref in dict.fromkeys((f"{name}:{primary}", f"{name}:{sha}", f"{name}:{sha}{DIRTY_SUFFIX}")):
        if engine.image_id(ref) is not None:
            LOGGER.warning(
                "%s: running %s, not built from the files as they are now (%s); "
                "`invoke build --image %s` brings it up to date",
                name,
                ref,
                "; ".join(decision.reasons) or "other content",
                name,
            )
            return ref
    raise NothingToRunError(
        name=name, missing="no build of its current content or of this commit", remote=remote
    )


def _run(
    c: Context,
    image: str | None,
    tag: str | None,
    pull: bool,
    env: list[str],
    as_caller: bool,
    *,
    open_shell: bool,
) -> None:
    from .. import attach, workspace
    from ..engine import Engine

    if not image:  # optional at Invoke's level, so its absence is refused here, with a hint
        task = "shell" if open_shell else "run"
        raise MissingFlagError(task=task, flags="--image", usage=f"--image NAME{_USAGE[task]}")
    from ..reference import validate_tag

    s = settings(c)
    # Bad input fails before Docker is asked anything: names, an unknown image (with the close
    # ones), a tag outside the grammar.
    names = workspace.env_names(env)
    selection = select(s, [image], False)
    if tag:
        validate_tag(tag)
    engine = Engine.connect(s.builder)
    ref = _reference(s, engine, selection, tag, pull)
    spec = workspace.plan(
        image,
        ref,
        engine.inspect(ref).get("Config") or {},
        host_dir=Path.cwd(),
        command=() if open_shell else workspace.command_after_dashdash(sys.argv),
        env=names,
        tty=sys.stdin.isatty() and sys.stdout.isatty(),
        as_caller=as_caller,
        open_shell=open_shell,
    )
    code = attach.run(spec.argv(), spec.name)
    if code:
        raise Exit(code=code)


_USAGE = {"run": " [-- CMD ARGS…]", "shell": ""}


@task(iterable=["env"], help=RUN_HELP)
@speaks_errors
def run(
    c: Context,
    image: str | None = None,
    tag: str | None = None,
    pull: bool = False,
    env: list[str] | None = None,
    as_caller: bool = False,
) -> None:
    """Run an image over the current directory: invoke run --image NAME -- CMD ARGS…

    The directory is mounted at the image's WORKDIR (/workspace when it has none, or it is / or
    a home directory) and is the command's working directory. Images that run as root run as
    your uid:gid; a non-root USER is kept (--as-caller overrides). The words after `--` reach
    the container exactly as typed; without them the image's own command runs. The exit code
    is the command's; the container is removed afterwards, also on Ctrl-C.
    """
    _run(c, image, tag, pull, listify(env), as_caller, open_shell=False)


@task(iterable=["env"], help=RUN_HELP)
@speaks_errors
def shell(
    c: Context,
    image: str | None = None,
    tag: str | None = None,
    pull: bool = False,
    env: list[str] | None = None,
    as_caller: bool = False,
) -> None:
    """Open a shell (bash, else sh) in an image over the current directory, as `run` mounts it."""
    _run(c, image, tag, pull, listify(env), as_caller, open_shell=True)


@task(
    name="act",
    help={
        "workflow": "only this workflow file (a path, or a name under .github/workflows/)",
        "job": "only this job (its ID, as --list shows it)",
        "list": "list the workflows' jobs instead of running them (needs no Docker)",
        "dry_run": "check what would run without starting containers (act -n; needs Docker)",
    },
)
@speaks_errors
def act_(
    c: Context,
    workflow: str | None = None,
    job: str | None = None,
    list: bool = False,
    dry_run: bool = False,
) -> None:
    """Run the repository's GitHub workflows locally with act; words after `--` go to act."""
    from .. import act as act_mod
    from .. import workspace

    s = settings(c)
    code = act_mod.run(
        s.root,
        workflow=workflow,
        job=job,
        list_only=list,
        dry_run=dry_run,
        extra=workspace.command_after_dashdash(sys.argv),
    )
    if code:
        raise Exit(code=code)
