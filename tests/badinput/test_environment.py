"""A missing environment: no Docker daemon, a tool that is not installed, no cluster config.
Exit 3 with what is missing and how to get it, and nothing changed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.badinput.conftest import Attempt
from tests.badinput.refusal import Case, cases
from tests.helpers import FIXTURES

CHART = str(FIXTURES / "charts" / "fleet-app")
HELM = ("helm-deploy", "--release", "app", "--namespace", "ns", "--chart", CHART)
DAEMON = "Docker daemon not reachable"

NO_DAEMON = cases(
    Case("daemon-build", ("build", "--image", "fx-hello"), 3, DAEMON),
    Case("daemon-build-registry", ("build", "--all", "--registry", "localhost:5000/x"), 3, DAEMON),
    Case("daemon-test", ("test", "--image", "fx-hello"), 3, DAEMON),
    Case("daemon-tag", ("tag", "--image", "fx-hello"), 3, DAEMON),
    Case("daemon-push", ("push", "--image", "fx-hello"), 3, DAEMON),
    Case("daemon-scan", ("scan", "--image", "fx-hello"), 3, DAEMON),
    Case("daemon-run", ("run", "--image", "fx-hello", "--", "true"), 3, DAEMON),
    Case("daemon-shell", ("shell", "--image", "fx-hello"), 3, DAEMON),
    Case("no-kubeconfig", HELM, 3, "no kubeconfig found ("),
)

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: closed
  context:
    cluster: closed
    user: nobody
current-context: closed
users:
- name: nobody
  user:
    token: not-a-token
"""


@pytest.mark.parametrize("case", NO_DAEMON)
def test_no_daemon(attempt: Attempt, project: Path, case: Case) -> None:
    attempt(case, project)


def test_no_daemon_for_helm_in_a_container(attempt: Attempt, project: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    env = {"KUBECONFIG": str(kubeconfig)}
    attempt(Case("daemon-helm", (*HELM, "--in-container"), 3, DAEMON, env), project)


@pytest.fixture
def bare(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """An interpreter path with no tools beside it, and a PATH holding only git: the CLI run
    this way finds neither hadolint, act, helm, trivy nor a registry binary."""
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.symlink_to(Path(sys.executable).resolve())
    git = shutil.which("git")
    assert git is not None
    (bin_dir / "git").symlink_to(git)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    return str(python), {"PATH": str(bin_dir), "KUBECONFIG": str(kubeconfig)}


MISSING = cases(
    Case("missing-hadolint", ("lint",), 3, "hadolint is not installed"),
    Case("missing-act", ("act", "--list"), 3, "act is not installed"),
    Case("missing-helm", HELM, 3, "helm is not installed"),
    Case("missing-helm3", HELM, 3, "helm3 is not installed", {"INVOKE_FLEET_HELM_BINARY": "helm3"}),
    Case("missing-registry-and-daemon", ("registry.start",), 3, DAEMON),
)


@pytest.mark.parametrize("case", MISSING)
def test_missing_tool(
    attempt: Attempt, project: Path, bare: tuple[str, dict[str, str]], case: Case
) -> None:
    python, env = bare
    attempt(
        Case(case.id, case.args, case.code, case.needle, {**env, **case.env}),
        project,
        python=python,
    )


def test_missing_git(attempt: Attempt, project: Path, bare: tuple[str, dict[str, str]]) -> None:
    python, env = bare
    (Path(env["PATH"]) / "git").unlink()
    case = Case(
        "missing-git", ("build", "--image", "fx-hello", "--dry-run"), 3, "git is not installed", env
    )
    attempt(case, project, python=python)
