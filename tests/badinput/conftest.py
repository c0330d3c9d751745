"""Fixtures of the bad-input suite: a fresh fixture project per case, and the runner that
checks a case's refusal with every probe of what a run could change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.badinput.refusal import NO_DAEMON, Case, Probe, refused, tree, unchanged
from tests.helpers import FIXTURES, Result, invoke, make_project

# The integration cases (test_engine) use the real engine and registry of the integration suite.
from tests.integration.conftest import busybox_path, engine, janitor, registry  # noqa: F401

# The k8s cases (test_deploy) use the API server of the k8s suite.
from tests.k8s.conftest import cluster  # noqa: F401

Attempt = Callable[..., Result]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The two fixture images (fx-hello with a manifest, fx-plain without), committed."""
    return make_project(tmp_path / "project", with_busybox=False)


@pytest.fixture
def family(tmp_path: Path) -> Path:
    """The base → middle → leaves family plus fx-solo, committed."""
    family = FIXTURES / "family"
    return make_project(
        tmp_path / "family", {p.name: p for p in family.iterdir()}, with_busybox=False
    )


@pytest.fixture
def extra_probes() -> list[Probe]:
    """What else a refused run must leave alone (the integration cases add the engine's images
    and containers and the registry's repositories)."""
    return []


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """No Docker, no cluster, no GitHub Actions, no debug tracebacks: whatever a case needs
    beyond that it says itself."""
    return {
        **NO_DAEMON,
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "GITHUB_OUTPUT": "",
        "GITHUB_STEP_SUMMARY": "",
        "FLEET_DEBUG": "",
    }


@pytest.fixture
def attempt(extra_probes: list[Probe], base_env: dict[str, str]) -> Attempt:
    """Run ``case`` against ``root`` (after its setup) and check the refusal and that nothing
    changed: the working tree, git refs, and the ``extra_probes``."""

    def run(
        case: Case, root: Path, *, cwd: Path | None = None, python: str | None = None
    ) -> Result:
        if case.setup is not None:
            case.setup(root)
        with unchanged([tree(root), *extra_probes]):
            result = invoke(cwd or root, *case.args, env={**base_env, **case.env}, python=python)
            refused(result, case.code, case.needle)
        return result

    return run
