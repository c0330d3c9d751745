"""`invoke build` on the real engine: BuildKit and the classic builder, labels, args, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagefleet.engine import Engine
from tests.helpers import git, invoke
from tests.integration.conftest import DockerCalls

pytestmark = pytest.mark.integration

OCI = "org.opencontainers.image"
BUILDERS = ["buildx", "classic"]


def _run(engine: Engine, ref: str, *command: str) -> str:
    output: bytes = engine.client.containers.run(ref, list(command) or None, remove=True)
    return output.decode().strip()


@pytest.mark.parametrize("builder", BUILDERS)
def test_build_labels_args_and_user(project: Path, engine: Engine, builder: str) -> None:
    sha = git(project, "rev-parse", "HEAD")
    committed = git(project, "log", "-1", "--format=%cI")
    result = invoke(
        project,
        "build",
        "--image",
        "fx-hello",
        "--build-arg",
        "GREETING=hi",
        "--json",
        env={"INVOKE_FLEET_BUILDER": builder},
    )
    assert result.code == 0, result.output
    [built] = json.loads(result.stdout)
    assert built["reference"] == f"fx-hello:{sha}"
    assert engine.image_id(built["reference"]) == built["id"]

    attrs = engine.inspect(built["reference"])
    labels = attrs["Config"]["Labels"]
    assert labels[f"{OCI}.title"] == "fx-hello"
    assert labels[f"{OCI}.description"].startswith("Says hello")
    assert labels[f"{OCI}.source"] == "https://example.invalid/org/images"
    assert labels[f"{OCI}.revision"] == sha
    assert labels[f"{OCI}.version"] == "1.4.2"
    assert labels[f"{OCI}.base.name"] == "scratch"
    assert labels[f"{OCI}.created"].replace("Z", "+00:00") == committed.replace("Z", "+00:00")
    assert attrs["Config"]["User"] == "1000"
    # Dockerfile default (hello, world) < manifest (AUDIENCE=fleet) < command line (GREETING=hi)
    assert _run(engine, built["reference"]) == "hi fleet"


def test_build_progress_names_image_and_steps(project: Path) -> None:
    result = invoke(project, "build", "--image", "fx-plain", "--no-cache")
    assert result.code == 0, result.output
    assert "build fx-plain" in result.stderr
    assert "[2/2] RUN" in result.stderr
    assert "built fx-plain:" in result.stderr
    assert "[internal] load build definition" not in result.stderr  # CI logs stay short


def test_build_several_and_all(project: Path, engine: Engine) -> None:
    sha = git(project, "rev-parse", "HEAD")
    result = invoke(project, "build", "--all", "--json")
    assert result.code == 0, result.output
    assert {b["image"] for b in json.loads(result.stdout)} == {"fx-hello", "fx-plain"}
    assert engine.image_id(f"fx-plain:{sha}") is not None


def test_dry_run_touches_nothing(project: Path, engine: Engine) -> None:
    sha = git(project, "rev-parse", "HEAD")
    result = invoke(project, "build", "--image", "fx-plain", "--dry-run")
    assert result.code == 0, result.output
    assert f"fx-plain:{sha}" in result.stdout
    assert engine.image_id(f"fx-plain:{sha}") is None


@pytest.mark.parametrize("builder", BUILDERS)
def test_failed_step_reports_image_step_and_log(
    broken_project: Path, engine: Engine, builder: str
) -> None:
    result = invoke(
        broken_project, "build", "--image", "fx-fails", env={"INVOKE_FLEET_BUILDER": builder}
    )
    assert result.code == 4, result.output
    assert "Traceback" not in result.output
    assert "error: fx-fails: build failed at step" in result.stderr
    assert "false" in result.stderr
    assert "fixture-marker-42" in result.stderr  # the step's last log lines
    assert "hint: " in result.stderr
    sha = git(broken_project, "rev-parse", "HEAD")
    assert engine.image_id(f"fx-fails:{sha}") is None


@pytest.mark.parametrize("builder", BUILDERS)
def test_unpullable_base_is_named(broken_project: Path, builder: str) -> None:
    result = invoke(
        broken_project, "build", "--image", "fx-nobase", env={"INVOKE_FLEET_BUILDER": builder}
    )
    assert result.code == 4, result.output
    assert "Traceback" not in result.output
    assert "base image 127.0.0.1:1/fleet/missing-base:1.0 cannot be pulled" in result.stderr
    assert "hint: " in result.stderr


def test_base_override_from_the_command_line_is_used(broken_project: Path) -> None:
    # The same Dockerfile builds once BASE points somewhere real: build args reach FROM.
    result = invoke(
        broken_project,
        "build",
        "--image",
        "fx-nobase",
        "--build-arg",
        "BASE=127.0.0.1:2/other/base:2",
        "--dry-run",
        "--json",
    )
    assert result.code == 0, result.output
    [plan] = json.loads(result.stdout)["images"]
    assert plan["base"] == "127.0.0.1:2/other/base:2"
    failed = invoke(
        broken_project,
        "build",
        "--image",
        "fx-nobase",
        "--build-arg",
        "BASE=127.0.0.1:2/other/base:2",
    )
    assert "base image 127.0.0.1:2/other/base:2 cannot be pulled" in failed.stderr


def test_multi_platform_needs_the_containerd_store(project: Path, engine: Engine) -> None:
    if engine.supports_multi_platform():
        pytest.skip("this daemon uses the containerd image store: multi-platform builds work")
    result = invoke(
        project, "build", "--image", "fx-plain", "--platform", "linux/amd64,linux/arm64"
    )
    assert result.code == 2, result.output
    assert "containerd image store" in result.stderr


def test_a_failure_in_a_batch_keeps_the_siblings(
    broken_project: Path, engine: Engine, docker_calls: DockerCalls
) -> None:
    result = invoke(broken_project, "build", "--all", "--json", env=docker_calls.env)
    assert result.code == 4, result.output
    assert "Traceback" not in result.output
    failure = json.loads(result.stdout)  # one object: the error and the outcomes
    assert failure["error"]["code"] == 4
    assert failure["error"]["message"] == "2 of 4 images failed (fx-fails, fx-nobase)"
    outcomes = {o["image"]: o for o in failure["images"]}
    assert {n: o["status"] for n, o in outcomes.items()} == {
        "fx-fails": "failed",
        "fx-leaky": "built",
        "fx-nobase": "failed",
        "fx-wrongtests": "built",
    }
    assert "fixture-marker-42" in result.stderr  # the failed step's own lines
    assert "base image 127.0.0.1:1/fleet/missing-base:1.0 cannot be pulled" in result.stderr
    assert "error: 2 of 4 images failed (fx-fails, fx-nobase)" in result.stderr
    sha = git(broken_project, "rev-parse", "HEAD")
    assert engine.image_id(f"fx-leaky:{sha}") == outcomes["fx-leaky"]["id"]
    # All four went to BuildKit at once; the images a failure cancelled went again.
    bakes = docker_calls.calls("buildx", "bake")
    assert len(bakes) <= 4
    assert sorted(bakes[0][-4:]) == sorted(outcomes)
