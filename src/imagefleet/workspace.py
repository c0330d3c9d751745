"""Running an image where you work: the mount, the user, the environment and the command of one
``docker run``, decided as data (:class:`RunSpec`) before anything starts."""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import InvalidEnvNameError

DEFAULT_WORKDIR = "/workspace"
# HOME for a caller's uid the image has no account for: docker would make it `/`, not writable.
CALLER_HOME = "/tmp"  # noqa: S108  # inside the container, where every uid may write
# Every container `invoke run` and `invoke shell` start carries it (value: the image's name).
LABEL = "imagefleet.run"
# `invoke shell`: bash where the image has it, else sh.
SHELL_ENTRYPOINT = "/bin/sh"
SHELL_ARGS = ("-c", "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh")

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def command_after_dashdash(argv: Sequence[str]) -> tuple[str, ...]:
    """The words after the first ``--`` of the process's own argv, exactly as the shell passed
    them; empty without one. Invoke would join them into one string and lose their quoting."""
    words = list(argv)
    if "--" not in words:
        return ()
    return tuple(words[words.index("--") + 1 :])


def mount_point(workdir: str | None) -> str:
    """Where the current directory is mounted: the image's ``WORKDIR``, or ``/workspace`` when it
    has none, it is ``/``, or it is a home directory (``/root``, ``/home/…``): mounting there
    would hide the files the image keeps for its user."""
    path = PurePosixPath(workdir or "/")
    if not path.is_absolute() or str(path) in ("/", "/root") or path.parts[:2] == ("/", "home"):
        return DEFAULT_WORKDIR
    return str(path)


def is_root(user: str | None) -> bool:
    """Whether a ``USER`` (``name[:group]`` or ``uid[:gid]``; empty when unset) is root."""
    return (user or "").split(":", 1)[0].strip() in ("", "root", "0")


@dataclass(frozen=True)
class Caller:
    """Who runs ``invoke``: the uid and gid files written to the mount should belong to."""

    uid: int
    gid: int

    @classmethod
    def current(cls) -> Caller:
        """This process's real uid and gid."""
        return cls(os.getuid(), os.getgid())

    @property
    def user(self) -> str:
        """``uid:gid``, as ``docker run --user`` takes it."""
        return f"{self.uid}:{self.gid}"


def run_as(image_user: str | None, caller: Caller, *, as_caller: bool = False) -> str | None:
    """The ``--user`` of the container, or ``None`` to keep the image's own.

    An image that runs as root (or sets no ``USER``) runs as the caller's uid:gid, so what the
    command writes into the mounted directory belongs to the caller, not to root. An image that
    declares a non-root ``USER`` keeps it: its home, caches and tools are set up for that user.
    ``as_caller`` runs even those as the caller. A root caller of a root image needs no change.
    """
    if not (as_caller or is_root(image_user)):
        return None
    if is_root(image_user) and caller.uid == 0 and caller.gid == 0:
        return None
    return caller.user


def env_names(values: Sequence[str]) -> tuple[str, ...]:
    """The ``--env`` names, checked and without repeats. Only names: values come from the
    caller's environment, so secrets never sit in an argument list (``ps`` shows those)."""
    names: list[str] = []
    for value in values:
        if not _ENV_NAME_RE.match(value):
            raise InvalidEnvNameError(value=value)
        names.append(value)
    return tuple(dict.fromkeys(names))


def container_name(image: str) -> str:
    """A fresh container name: the cleanup finds the container by it."""
    return f"imagefleet-run-{image}-{secrets.token_hex(4)}"


def _bind(source: Path, target: str) -> str:
    """A ``--mount`` value; fields are CSV-quoted as docker parses them (a path may hold ``,``)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        ["type=bind", f"source={source}", f"target={target}"]
    )
    return out.getvalue()


@dataclass(frozen=True)
class RunSpec:
    """One ``docker run`` of an image over the caller's directory."""

    image: str  # the fleet image's name
    ref: str  # the local reference that runs
    host_dir: Path
    workdir: str  # where host_dir is mounted, and the command's working directory
    user: str | None  # --user, or None for the image's own
    env: tuple[str, ...]  # names passed through from the caller's environment
    command: tuple[str, ...]  # empty: the image's own CMD
    tty: bool
    name: str
    entrypoint: str | None = None

    def argv(self) -> list[str]:
        """The ``docker`` command line. ``--init`` puts a small init first: the command gets the
        signals (and a PID 1 that ignores SIGTERM cannot keep the container up)."""
        argv = ["docker", "run", "--rm", "--init", "--interactive"]
        if self.tty:
            argv.append("--tty")
        argv += ["--name", self.name, "--label", f"{LABEL}={self.image}"]
        argv += ["--mount", _bind(self.host_dir, self.workdir), "--workdir", self.workdir]
        if self.user is not None:
            argv += ["--user", self.user]
            if "HOME" not in self.env:
                argv += ["--env", f"HOME={CALLER_HOME}"]
        for name in self.env:
            argv += ["--env", name]  # no value: docker reads it from its own environment
        if self.entrypoint is not None:
            argv += ["--entrypoint", self.entrypoint]
        return [*argv, self.ref, *self.command]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for logs and tests)."""
        return {
            "image": self.image,
            "ref": self.ref,
            "host_dir": str(self.host_dir),
            "workdir": self.workdir,
            "user": self.user,
            "env": list(self.env),
            "command": list(self.command),
            "tty": self.tty,
            "name": self.name,
            "entrypoint": self.entrypoint,
        }


def plan(
    image: str,
    ref: str,
    config: Mapping[str, Any],
    *,
    host_dir: Path,
    command: Sequence[str] = (),
    env: Sequence[str] = (),
    tty: bool = False,
    caller: Caller | None = None,
    as_caller: bool = False,
    open_shell: bool = False,
    name: str | None = None,
) -> RunSpec:
    """Decide the run of ``ref`` (whose inspected ``Config`` is ``config``) over ``host_dir``;
    ``open_shell`` starts bash or sh instead of a command, whatever the image's entrypoint."""
    return RunSpec(
        image=image,
        ref=ref,
        host_dir=host_dir,
        workdir=mount_point(config.get("WorkingDir")),
        user=run_as(config.get("User"), caller or Caller.current(), as_caller=as_caller),
        env=env_names(env),
        command=SHELL_ARGS if open_shell else tuple(command),
        tty=tty,
        name=name or container_name(image),
        entrypoint=SHELL_ENTRYPOINT if open_shell else None,
    )
