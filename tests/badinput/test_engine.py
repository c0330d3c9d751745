"""Bad input that only a real engine and registry can judge (an image not built, a parent out
of date, a second local registry): refused with nothing new in the engine or the registry."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagefleet import localregistry
from tests.badinput.conftest import Attempt
from tests.badinput.refusal import NO_DAEMON, Case, Probe, Setup, cases, command
from tests.helpers import git, invoke
from tests.integration.conftest import FIXTURE_NAMES

pytestmark = pytest.mark.integration


def _catalog(registry: localregistry.LocalRegistry) -> Probe:
    """Every repository in the registry with its tags."""

    def probe() -> object:
        def get(path: str) -> dict[str, list[str] | None]:
            with urllib.request.urlopen(f"http://{registry.address}/v2/{path}", timeout=10) as r:
                data: dict[str, list[str] | None] = json.load(r)
                return data

        repositories = get("_catalog?n=1000").get("repositories") or []
        return {repo: sorted(get(f"{repo}/tags/list").get("tags") or []) for repo in repositories}

    return probe


def _engine_probes() -> list[Probe]:
    """The engine's images and containers of the fixture names (the engine is shared)."""
    return [
        command(
            "docker",
            "image",
            "ls",
            "-a",
            "--format={{.Repository}}:{{.Tag}} {{.ID}}",
            mentioning=FIXTURE_NAMES,
        ),
        command(
            "docker",
            "ps",
            "-a",
            "--no-trunc",
            "--format={{.Names}} {{.Image}} {{.Command}}",
            mentioning=FIXTURE_NAMES,
        ),
    ]


@pytest.fixture
def extra_probes(
    engine: object, janitor: None, registry: localregistry.LocalRegistry
) -> list[Probe]:
    return [*_engine_probes(), _catalog(registry)]


@pytest.fixture
def base_env(tmp_path: Path, registry: localregistry.LocalRegistry) -> dict[str, str]:
    """The real engine (the environment's DOCKER_HOST), the test's registry as fleet.registry."""
    return {
        "INVOKE_FLEET_REGISTRY": f"{registry.address}/fleet",
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "GITHUB_OUTPUT": "",
        "FLEET_DEBUG": "",
    }


NOT_BUILT = "has not been built for this commit"

ENGINE = cases(
    Case("push-not-built", ("push", "--image", "fx-plain"), 2, f"fx-plain {NOT_BUILT}"),
    Case("push-all-not-built", ("push", "--all"), 2, NOT_BUILT),
    Case("push-json-not-built", ("push", "--image", "fx-hello", "--json"), 2, NOT_BUILT),
    Case("tag-not-built", ("tag", "--image", "fx-hello"), 2, f"fx-hello {NOT_BUILT}"),
    Case(
        "tag-registry-not-built", ("tag", "--all", "--registry", "localhost:5999/x"), 2, NOT_BUILT
    ),
    Case("test-not-built", ("test", "--image", "fx-hello"), 2, NOT_BUILT),
    Case("scan-not-built", ("scan", "--image", "fx-hello"), 2, NOT_BUILT),
    Case(
        "run-tag-missing",
        ("run", "--image", "fx-hello", "--tag", "nope", "--", "true"),
        2,
        "fx-hello has no local image to run: fx-hello:nope",
    ),
    Case(
        "run-not-built",
        ("run", "--image", "fx-plain", "--", "true"),
        2,
        "fx-plain has no local image to run",
    ),
    Case("shell-not-built", ("shell", "--image", "fx-plain"), 2, "has no local image to run"),
)


@pytest.mark.parametrize("case", ENGINE)
def test_refused_by_what_the_engine_has(attempt: Attempt, project: Path, case: Case) -> None:
    attempt(case, project)


def _uses(manifest: str, dockerfile_line: str) -> Setup:
    def setup(root: Path) -> None:
        image = root / "images" / "fx-hello"
        with (image / "image.yml").open("a") as out:
            out.write(manifest)
        with (image / "Dockerfile").open("a") as out:
            out.write(dockerfile_line)
        git(root, "add", "-A")
        git(root, "commit", "-qm", "uses a build secret or a staged context")

    return setup


UNMET = cases(
    Case(
        "secret-variable-unset",
        ("build", "--image", "fx-hello"),
        3,
        "FX_BADINPUT_TOKEN",
        setup=_uses(
            "secrets:\n  token:\n    env: FX_BADINPUT_TOKEN\n",
            "RUN --mount=type=secret,id=token,required=true true\n",
        ),
    ),
    Case(
        "context-executable-missing",
        ("build", "--image", "fx-hello"),
        3,
        "nosuchtool-xyz (context tools) is not on PATH",
        setup=_uses(
            "contexts:\n  tools:\n    executables: {nosuchtool-xyz: some-package}\n",
            "COPY --from=tools nosuchtool-xyz /bin/\n",
        ),
    ),
)


@pytest.mark.parametrize("case", UNMET)
def test_refused_before_building_what_it_cannot_build(
    attempt: Attempt, project: Path, case: Case
) -> None:
    """Exit 3 before anything builds: a build secret whose variable is unset, an executable a
    named context stages that is not installed."""
    attempt(case, project)


def test_build_no_deps_with_a_stale_parent(
    attempt: Attempt, family: Path, registry: localregistry.LocalRegistry
) -> None:
    case = Case(
        "no-deps-stale-parent",
        ("build", "--image", "fx-middle", "--no-deps"),
        2,
        "fx-middle builds on fx-base, whose image is out of date",
        {"INVOKE_FLEET_REGISTRY": "localhost:5000/fleet"},
    )
    attempt(case, family)


@pytest.fixture
def started(project: Path) -> Iterator[str]:
    """A local registry started by the CLI for ``project``; stopped (and wiped) afterwards."""
    result = invoke(project, "registry.start", "--any-port")
    assert result.code == 0, result.output
    try:
        yield result.stdout.strip()
    finally:
        invoke(project, "registry.stop")


def test_registry_start_on_another_port_while_one_runs(
    attempt: Attempt, project: Path, started: str
) -> None:
    port = int(started.rsplit(":", 1)[1])
    other = str(port + 1 if port < 65535 else port - 1)
    case = Case(
        "second-port",
        ("registry.start", "--port", other),
        2,
        f"a local registry already runs on {started}, not on port {other}",
    )
    attempt(case, project)


def test_no_daemon_leaves_the_registry_alone(
    attempt: Attempt, project: Path, registry: localregistry.LocalRegistry
) -> None:
    attempt(
        Case("push-no-daemon", ("push", "--all"), 3, "Docker daemon not reachable", NO_DAEMON),
        project,
    )
