"""docker-compose.yml: a local registry, and every image under images/ as a dev container behind a
profile of its own (a new image cannot be forgotten)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.helpers import REPO

COMPOSE = REPO / "docker-compose.yml"


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def test_every_image_has_a_dev_container_behind_its_own_profile() -> None:
    services = _services()
    images = sorted(p.name for p in (REPO / "images").iterdir() if (p / "Dockerfile").is_file())
    assert images
    for name in images:
        assert name in services, f"docker-compose.yml has no service for images/{name}"
        service = services[name]
        assert service["profiles"] == [name]
        assert service["build"]["context"] == f"images/{name}"
        assert service["image"].endswith(f"/{name}:${{FLEET_TAG:-latest}}")
        assert ".:/workspace" in service["volumes"]
        assert service["working_dir"] == "/workspace"
    assert set(services) == {"registry", *images}, "a service for an image that does not exist"


def test_the_registry_runs_without_a_profile_on_loopback() -> None:
    registry = _services()["registry"]
    assert "profiles" not in registry
    assert registry["image"] == "registry:2"
    assert all(p.startswith("127.0.0.1:") for p in registry["ports"])


def test_compose_accepts_the_file() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI; nox -s lint runs `docker compose config` where it is")
    done = subprocess.run(
        ["docker", "compose", "--profile", "*", "config", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if "is not a docker command" in done.stderr:
        pytest.skip("no Compose v2 plugin; ../shared/env/provision docker installs it")
    assert done.returncode == 0, done.stderr
