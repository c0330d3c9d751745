"""helm-deploy's bad input against a real API server: a malformed kubeconfig, a chart that is
not one or does not render, an unknown context, an unreachable chart registry. Exit 2 (3 for
the registry) naming the file, and nothing deployed: no namespace made, no release."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.badinput.conftest import Attempt
from tests.badinput.refusal import Case, Probe, command
from tests.helpers import FIXTURES
from tests.k8s.conftest import Cluster

pytestmark = pytest.mark.k8s

CHART = FIXTURES / "charts" / "fleet-app"


@pytest.fixture
def namespace() -> str:
    """A namespace name no case may create (a refused deploy creates nothing)."""
    return f"fleet-bad-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def extra_probes(cluster: Cluster, namespace: str) -> list[Probe]:
    env = {"KUBECONFIG": str(cluster.kubeconfig)}
    return [
        command("kubectl", "get", "namespaces", "-o", "name", env=env, mentioning=[namespace]),
        command(
            "helm",
            "list",
            "--all-namespaces",
            "--deployed",
            "--failed",
            "--pending",
            "--superseded",
            "--uninstalling",
            "-q",
            env=env,
        ),
    ]


@pytest.fixture
def base_env(cluster: Cluster, tmp_path: Path) -> dict[str, str]:
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "INVOKE_FLEET_HELM_BINARY": "helm",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "FLEET_DEBUG": "",
    }


def _broken_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "broken-chart"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "broken.yaml").write_text("data: {{ .Values.nope.deeper }\n")
    return chart


def _chartless(tmp_path: Path) -> Path:
    chart = tmp_path / "chartless"
    shutil.copytree(CHART, chart)
    (chart / "Chart.yaml").unlink()
    return chart


def _not_a_chart(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a chart\n")
    return path


CHARTS = {
    "chart-does-not-render": (_broken_chart, "the chart does not render"),
    "chart-without-chart-yaml": (_chartless, "chart"),
    "chart-is-a-text-file": (_not_a_chart, "chart"),
}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_bad_chart(
    attempt: Attempt, project: Path, tmp_path: Path, namespace: str, name: str
) -> None:
    make, needle = CHARTS[name]
    chart = make(tmp_path)
    args = ("helm-deploy", "--release", "app", "--namespace", namespace, "--chart", str(chart))
    attempt(Case(name, args, 2, needle), project)


KUBECONFIGS = {
    "kubeconfig-yaml-error": ("clusters: [unclosed\n", "not a valid kubeconfig"),
    "kubeconfig-a-list": ("- a\n- b\n", "not a valid kubeconfig"),
    "kubeconfig-clusters-not-a-list": ("clusters: 3\n", "not a valid kubeconfig"),
}


@pytest.mark.parametrize("name", sorted(KUBECONFIGS))
def test_bad_kubeconfig(
    attempt: Attempt, project: Path, tmp_path: Path, namespace: str, name: str
) -> None:
    text, needle = KUBECONFIGS[name]
    kubeconfig = tmp_path / "bad-kubeconfig"
    kubeconfig.write_text(text)
    args = ("helm-deploy", "--release", "app", "--namespace", namespace, "--chart", str(CHART))
    attempt(Case(name, args, 2, needle, {"KUBECONFIG": str(kubeconfig)}), project)


@pytest.mark.parametrize(
    ("name", "extra", "code", "needle"),
    [
        (
            "unknown-context",
            ("--kube-context", "elsewhere"),
            2,
            "kube-context 'elsewhere' is not in the kubeconfig",
        ),
        ("values-not-yaml", ("--values", "VALUES"), 2, "values"),
        ("unknown-image", ("--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    ],
)
def test_bad_deploy_flag(
    attempt: Attempt,
    project: Path,
    tmp_path: Path,
    namespace: str,
    name: str,
    extra: tuple[str, ...],
    code: int,
    needle: str,
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("message: [unclosed\n")
    extra = tuple(str(values) if e == "VALUES" else e for e in extra)
    args = ("helm-deploy", "--release", "app", "--namespace", namespace, "--chart", str(CHART))
    attempt(Case(name, (*args, *extra), code, needle), project)


def test_unreachable_chart_registry_is_not_the_clusters_fault(
    attempt: Attempt, project: Path, namespace: str
) -> None:
    chart = "oci://127.0.0.1:9/charts/fleet-app"
    args = ("helm-deploy", "--release", "app", "--namespace", namespace, "--chart", chart)
    attempt(Case("oci-unreachable", args, 3, "chart registry 127.0.0.1:9 unreachable"), project)
