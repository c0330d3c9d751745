"""Real Docker engine and a real registry on loopback; every tag and container is cleaned up."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from imagefleet import localregistry, tools
from imagefleet.engine import Engine
from imagefleet.errors import FleetError
from tests.helpers import FIXTURES, busybox, git, make_project, require

FIXTURE_NAMES = {
    p.name
    for d in ("images", "broken", "family", "run", "slow", "secrets")
    for p in (FIXTURES / d).iterdir()
}


@pytest.fixture(scope="session")
def engine() -> Engine:
    try:
        return Engine.connect()
    except FleetError as exc:
        require(f"no Docker engine ({exc.message})", "start Docker: ../shared/env/provision docker")
        raise


@pytest.fixture(scope="session")
def busybox_path() -> Path:
    found = busybox()
    if found is None:
        require("no static busybox for the fixture images", "apt-get install busybox-static")
    assert found is not None
    return found


def _ours(repository: str) -> bool:
    last = repository.rsplit("/", 1)[-1]
    if last not in FIXTURE_NAMES:
        return False
    return repository == last or repository.startswith(("localhost:", "127.0.0.1:"))


@pytest.fixture
def janitor(engine: Engine) -> Iterator[None]:
    """Remove every local tag of a fixture image (local or for a loopback registry) afterwards,
    and the images pulled by digest from a test's registry (they have a digest, no tag)."""
    yield
    for image in engine.client.images.list():
        for ref in image.tags:
            if _ours(ref.rsplit(":", 1)[0]):
                engine.remove(ref)
    for image in engine.client.images.list():
        digests = image.attrs.get("RepoDigests") or []
        if not image.tags and any(_ours(d.split("@", 1)[0]) for d in digests):
            with contextlib.suppress(docker.errors.APIError):
                engine.client.images.remove(str(image.id), force=True)


@pytest.fixture
def project(tmp_path: Path, engine: Engine, busybox_path: Path, janitor: None) -> Path:
    """A committed git project holding the fixture images (with busybox in each context)."""
    return make_project(tmp_path / "project")


@pytest.fixture
def broken_project(tmp_path: Path, engine: Engine, busybox_path: Path, janitor: None) -> Path:
    """A project of fixture images that fail to build, each in its own way."""
    broken = FIXTURES / "broken"
    return make_project(tmp_path / "broken", {p.name: p for p in broken.iterdir()})


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[localregistry.LocalRegistry]:
    """A real registry on a free loopback port, stopped and wiped afterwards."""
    if localregistry.find_binary() is None:
        require("no registry binary", "apt-get install docker-registry")
    with localregistry.running(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def family(
    tmp_path: Path,
    engine: Engine,
    busybox_path: Path,
    janitor: None,
    registry: localregistry.LocalRegistry,
) -> tuple[Path, dict[str, str]]:
    """The base → middle → two leaves family plus an unrelated image, committed, with parents
    named through a real registry on loopback; returns (project, env for the CLI)."""
    project = make_project(
        tmp_path / "family", {p.name: p for p in (FIXTURES / "family").iterdir()}
    )
    for dockerfile in (project / "images").glob("*/Dockerfile"):
        text = dockerfile.read_text()
        dockerfile.write_text(text.replace("localhost:5000/fleet", f"{registry.address}/fleet"))
    git(project, "commit", "-q", "--amend", "-a", "--no-edit")
    return project, {"INVOKE_FLEET_REGISTRY": f"{registry.address}/fleet"}


@dataclass(frozen=True)
class DockerCalls:
    """A ``docker`` on ``PATH`` and a buildx plugin where the CLI finds it first (a
    ``DOCKER_CONFIG`` of its own, its other entries the real ones) that record each command line,
    then run the real ones. The tool runs the plugin itself for bakes; those are recorded as
    ``buildx …`` too, as if through the docker CLI."""

    env: dict[str, str]
    log: Path

    def calls(self, *prefix: str) -> list[list[str]]:
        """Recorded command lines (without ``docker``) that start with ``prefix``."""
        lines = self.log.read_text().splitlines() if self.log.is_file() else []
        return [argv for line in lines if (argv := line.split(" "))[: len(prefix)] == [*prefix]]


@pytest.fixture
def docker_calls(tmp_path: Path) -> DockerCalls:
    """Count the CLI's docker calls: pass ``env`` to the CLI, read ``calls`` afterwards."""
    real = shutil.which("docker")
    if real is None:
        require("no docker CLI", "install docker.io")
    assert real is not None
    spy = tmp_path / "docker-spy"
    spy.mkdir()
    log = tmp_path / "docker-calls.log"
    (spy / "docker").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (spy / "docker").chmod(0o755)
    env = {"PATH": f"{spy}{os.pathsep}{os.environ['PATH']}"}
    plugin = tools.buildx_plugin()
    if plugin is not None:
        config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
        spy_config = tmp_path / "docker-config"
        (spy_config / "cli-plugins").mkdir(parents=True)
        for entry in config.iterdir() if config.is_dir() else ():
            if entry.name != "cli-plugins":
                (spy_config / entry.name).symlink_to(entry)
        # Run by the docker CLI, the plugin gets `buildx …` (the docker spy recorded it) or the
        # metadata query; run by the tool, it gets the subcommand alone.
        (spy_config / "cli-plugins" / "docker-buildx").write_text(
            "#!/bin/sh\n"
            'case "$1" in buildx|docker-cli-plugin-metadata) ;;\n'
            f'  *) echo "buildx $*" >> {log} ;;\n'
            "esac\n"
            f'exec {plugin} "$@"\n'
        )
        (spy_config / "cli-plugins" / "docker-buildx").chmod(0o755)
        env["DOCKER_CONFIG"] = str(spy_config)
    return DockerCalls(env, log)
