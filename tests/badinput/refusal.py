"""What a refusal is (exit code, one ``error:`` line, one ``hint:`` line, no traceback), the
cases that expect one, and the snapshots that prove a refused run changed nothing."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Result, git

# No engine behind this socket: a unit case must be refused before Docker matters.
NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

Setup = Callable[[Path], None]
Probe = Callable[[], object]


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (and environment), what the project looks like first,
    and the refusal expected (exit code, words of the ``error:`` line)."""

    id: str
    args: tuple[str, ...]
    code: int
    needle: str
    env: Mapping[str, str] = field(default_factory=dict)
    setup: Setup | None = None

    def param(self, *marks: pytest.MarkDecorator) -> Any:
        """This case as a ``pytest.param`` named by its id."""
        return pytest.param(self, id=self.id, marks=marks)


def cases(*given: Case) -> list[Any]:
    """Parameters for ``@pytest.mark.parametrize("case", …)``; ids must be unique."""
    ids = [c.id for c in given]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    return [c.param() for c in given]


def refused(result: Result, code: int, needle: str = "") -> None:
    """A clean refusal: ``code``, no traceback, exactly one ``error:`` line (holding ``needle``)
    and one ``hint:`` line after it on stderr."""
    assert result.code == code, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    hints = [i for i, line in enumerate(lines) if line.startswith("hint: ")]
    assert len(errors) == 1, result.stderr
    assert len(hints) == 1, result.stderr
    assert errors[0] < hints[0], result.stderr
    assert lines[hints[0]].strip() != "hint:", result.stderr
    assert needle in lines[errors[0]], result.stderr


def tree(root: Path) -> Probe:
    """The working tree as git and the file system see it: status (ignored files too), every
    ref (a release tag is a side effect), and each file's path, size and modification time."""

    def probe() -> object:
        files = []
        for directory, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in names:
                path = Path(directory, name)
                stat = path.lstat()
                files.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
        if not (root / ".git").exists():
            return sorted(files)
        status = git(root, "status", "--porcelain", "--ignored", "--untracked-files=all")
        refs = git(root, "for-each-ref", "--format=%(refname) %(objectname)")
        return status, refs, git(root, "stash", "list"), sorted(files)

    return probe


def command(
    *argv: str, mentioning: Collection[str] = (), env: Mapping[str, str] | None = None
) -> Probe:
    """The output of a command (``docker image ls``, ``docker ps -a``) as a probe; with
    ``mentioning``, only its lines that hold one of those words (the engine is shared)."""

    def probe() -> object:
        full_env = {**os.environ, **(env or {})}
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=full_env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        if mentioning:
            lines = [line for line in lines if any(word in line for word in mentioning)]
        return sorted(lines)

    return probe


@contextlib.contextmanager
def unchanged(probes: Sequence[Probe]) -> Iterator[None]:
    """Assert that every probe reads the same after the block as before it."""
    before = [probe() for probe in probes]
    yield
    after = [probe() for probe in probes]
    for was, now in zip(before, after, strict=True):
        assert now == was, f"a refused run changed something:\nbefore: {was!r}\nafter:  {now!r}"
