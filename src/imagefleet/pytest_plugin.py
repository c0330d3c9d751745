"""pytest fixtures for an image's own ``tests/test_*.py``: the image, a running container of it.

Loaded by ``invoke test`` (``-p imagefleet.pytest_plugin --fleet-image REF``). Every container is
labelled with the run's session id so the runner can remove any that a crash or Ctrl-C left.

    def test_helm_runs(container):
        result = container.exec(["helm", "version", "--short"])
        assert result.exit_code == 0 and result.output.startswith("v3.")

    def test_user(image):
        assert image.user == "deploy"
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .engine import Engine
from .errors import ContainerStartError
from .testing import SESSION_ENV, SESSION_LABEL, START_ERRORS_ENV


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--fleet-image REF``: the image the tests run against."""
    parser.addoption(
        "--fleet-image",
        action="store",
        default=None,
        help="image reference the image tests run against",
    )


@dataclass(frozen=True)
class ExecResult:
    """What a command in the container returned."""

    exit_code: int
    output: str


@dataclass(frozen=True)
class ImageInfo:
    """The image under test, as ``docker image inspect`` describes it."""

    reference: str
    attrs: dict[str, Any]

    @property
    def user(self) -> str:
        """The configured user (empty: root)."""
        return str(self.attrs["Config"].get("User") or "")

    @property
    def workdir(self) -> str:
        """The configured working directory."""
        return str(self.attrs["Config"].get("WorkingDir") or "")

    @property
    def labels(self) -> dict[str, str]:
        """The image's labels."""
        return dict(self.attrs["Config"].get("Labels") or {})

    @property
    def env(self) -> dict[str, str]:
        """The image's environment."""
        return dict(item.split("=", 1) for item in self.attrs["Config"].get("Env") or ())


class Container:
    """A running container of the image under test (kept alive with ``sleep``)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    @property
    def id(self) -> str:
        """The container ID."""
        return str(self._handle.id)

    def exec(self, command: list[str] | str, *, user: str | None = None) -> ExecResult:
        """Run ``command`` (a list, or a string for ``sh -c``): its exit code and output."""
        argv = ["sh", "-c", command] if isinstance(command, str) else command
        result = self._handle.exec_run(argv, user=user or "", demux=False)
        output = result.output.decode(errors="replace") if result.output else ""
        return ExecResult(int(result.exit_code), output)

    def read(self, path: str) -> str:
        """The text of the file at ``path`` (read through the Engine API: no ``cat`` needed)."""
        chunks, _ = self._handle.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.next()
            handle = archive.extractfile(member) if member else None
            if handle is None:
                raise IsADirectoryError(path)
            return handle.read().decode(errors="replace")

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists in the container."""
        try:
            self._handle.get_archive(path)
        except Exception:
            return False
        return True


@pytest.fixture(scope="session")
def image_ref(request: pytest.FixtureRequest) -> str:
    """The reference passed with ``--fleet-image``."""
    ref = request.config.getoption("--fleet-image")
    if not ref:
        pytest.fail("image tests need --fleet-image REF (invoke test passes it)")
    return str(ref)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The Docker engine the image lives in."""
    return Engine.connect()


@pytest.fixture(scope="session")
def image(engine: Engine, image_ref: str) -> ImageInfo:
    """The image under test, inspected."""
    return ImageInfo(image_ref, engine.inspect(image_ref))


@pytest.fixture
def container(engine: Engine, image_ref: str) -> Iterator[Container]:
    """A fresh container of the image per test, removed afterwards whatever happens."""
    labels = {SESSION_LABEL: os.environ.get(SESSION_ENV, "manual")}
    try:
        handle = engine.start_sleeper(image_ref, labels=labels)
    except ContainerStartError as exc:
        # Not a failing test: the machine cannot run the image. Tell the runner (which turns it
        # into exit 3 with the engine's words) and stop, rather than fail every test alike.
        where = os.environ.get(START_ERRORS_ENV)
        if where:
            with Path(where).open("a", encoding="utf-8") as out:
                out.write(exc.fields["reason"] + "\n")
        pytest.exit(exc.message, returncode=pytest.ExitCode.INTERRUPTED)
    try:
        yield Container(handle)
    finally:
        handle.remove(force=True)
