"""The helm seam: runners, Helm 3/4 detection and flags, reading releases, classifying failures."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from imagefleet.deploy.helm import Completed, ContainerRunner, Helm, LocalRunner, classify, scrub
from imagefleet.engine import Engine
from imagefleet.errors import (
    ChartNotFoundError,
    ChartRegistryUnreachableError,
    ChartTemplateError,
    ClusterUnreachableError,
    DeployError,
    EnvironmentProblem,
    ExitCode,
    FleetError,
    KubeconfigInvalidError,
    NotAChartError,
    PermissionDeniedError,
    UsageError,
)
from tests.helpers import FIXTURES

from .fakes import FakeRunner, fail, ok


def helm_with(version: str) -> tuple[Helm, FakeRunner]:
    runner = FakeRunner().on("helm", "version", reply=ok(version))
    return Helm(runner), runner


# --- Completed and scrub ------------------------------------------------------------------------


def test_message_is_the_last_error_line_without_prefix() -> None:
    done = Completed(1, "", "W1102 warning: something\nError: first\nError: the real one\n\n")
    assert done.message == "the real one"


def test_message_falls_back_to_the_last_line_then_the_exit_code() -> None:
    assert Completed(1, "", "line one\nline two\n").message == "line two"
    assert Completed(7, "", "  \n").message == "exit code 7"


def test_tokens_are_scrubbed_from_messages() -> None:
    assert scrub("Authorization: Bearer abcdefgh12345678") == "Authorization: Bearer ***"
    assert scrub('token: "s3cr3t-t0ken-value"') == 'token: "***"'
    done = Completed(1, "", "Error: unauthorized: bearer abcdefghijklmnop")
    assert "abcdefghijklmnop" not in done.message


# --- version detection and flags -----------------------------------------------------------------


@pytest.mark.parametrize(("version", "major"), [("v3.16.2", 3), ("v4.0.1\n", 4)])
def test_major_version_is_read_once(version: str, major: int) -> None:
    helm, runner = helm_with(version)
    assert helm.major == major
    assert helm.major == major
    assert runner.calls == [["helm", "version", "--template", "{{.Version}}"]]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (ok("v2.17.0"), "helm v2 is not supported"),
        (ok("not a version"), "cannot tell the helm version"),
        (fail("Error: exec format error"), "cannot tell the helm version: exec format error"),
    ],
)
def test_unsupported_or_unreadable_version_is_an_environment_problem(
    reply: Completed, message: str
) -> None:
    helm = Helm(FakeRunner().on("helm", "version", reply=reply))
    with pytest.raises(EnvironmentProblem, match=message):
        _ = helm.major


@pytest.mark.parametrize(
    ("version", "wait", "rollback", "flags"),
    [
        ("v3.16.2", True, True, ["--wait", "--atomic"]),
        ("v3.16.2", False, False, []),
        ("v3.16.2", True, False, ["--wait"]),
        ("v4.0.0", True, True, ["--wait=watcher", "--rollback-on-failure"]),
        ("v4.0.0", False, False, ["--wait=hookOnly"]),
    ],
)
def test_upgrade_flags_follow_the_helm_version(
    version: str, wait: bool, rollback: bool, flags: list[str]
) -> None:
    helm, _ = helm_with(version)
    assert helm.upgrade_flags(wait=wait, rollback=rollback) == flags


# --- reading releases -----------------------------------------------------------------------------


def test_calls_carry_the_kube_context() -> None:
    runner = FakeRunner().on("helm", reply=ok())
    Helm(runner, kube_context="staging").call("list", timeout=5)
    Helm(runner).call("list")
    assert runner.calls == [["helm", "list", "--kube-context", "staging"], ["helm", "list"]]
    assert runner.timeouts == [5, 600]


def test_status_of_a_missing_release_is_none() -> None:
    runner = FakeRunner().on("helm", "status", reply=fail("Error: release: not found"))
    assert Helm(runner).status("app", "team") is None
    assert runner.calls == [["helm", "status", "app", "--namespace", "team", "--output", "json"]]


def test_status_parses_json_and_classifies_other_failures() -> None:
    runner = FakeRunner().on("helm", "status", reply=ok({"info": {"status": "deployed"}}))
    assert Helm(runner).status("app", "team") == {"info": {"status": "deployed"}}
    runner.on("helm", "status", reply=fail("Error: Kubernetes cluster unreachable"))
    with pytest.raises(ClusterUnreachableError):
        Helm(runner).status("app", "team")


def test_history_is_empty_for_a_missing_release() -> None:
    runner = FakeRunner().on("helm", "history", reply=fail("Error: release: not found"))
    assert Helm(runner).history("app", "team") == []
    assert runner.calls[0][:4] == ["helm", "history", "app", "--namespace"]
    runner.on("helm", "history", reply=ok([{"revision": 1, "status": "deployed"}]))
    assert Helm(runner).history("app", "team") == [{"revision": 1, "status": "deployed"}]


def test_listed_filters_on_the_exact_release_name() -> None:
    entry = {"name": "my.app", "revision": "3", "status": "deployed"}
    runner = FakeRunner().on("helm", "list", reply=ok([entry]))
    assert Helm(runner).listed("my.app", "team") == entry
    assert runner.calls[0][runner.calls[0].index("--filter") + 1] == r"^my\.app$"
    runner.on("helm", "list", reply=ok(""))
    assert Helm(runner).listed("my.app", "team") is None
    runner.on("helm", "list", reply=fail("Error: list: forbidden"))
    with pytest.raises(PermissionDeniedError):
        Helm(runner).listed("my.app", "team")


# --- classify -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stderr", "kind", "message"),
    [
        (
            'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": '
            "dial tcp 10.0.0.1:6443: connect: connection refused",
            ClusterUnreachableError,
            "Kubernetes cluster unreachable: Kubernetes cluster unreachable: Get",
        ),
        (
            "Error: dial tcp: lookup api.example: no such host",
            ClusterUnreachableError,
            "Kubernetes cluster unreachable: dial tcp: lookup api.example: no such host",
        ),
        (
            'Error: secrets is forbidden: User "ci" cannot list resource "secrets"',
            PermissionDeniedError,
            'helm upgrade: permission denied: secrets is forbidden: User "ci"',
        ),
        ("Error: Unauthorized", PermissionDeniedError, "helm upgrade: permission denied"),
        (
            'Error: path "./nope" not found',
            ChartNotFoundError,
            'chart not found: path "./nope" not found',
        ),
        ("Error: chart not found in index", ChartNotFoundError, "chart not found"),
        (
            'Error: failed to download "oci://ghcr.io/x/app"',
            ChartNotFoundError,
            "chart not found",
        ),
        ("Error: failed parsing --set data: key has no value", UsageError, "invalid --set"),
        (
            "Error: UPGRADE FAILED: resource Deployment/app is invalid",
            DeployError,
            "helm upgrade failed: UPGRADE FAILED: resource Deployment/app is invalid",
        ),
    ],
)
def test_classify(stderr: str, kind: type[FleetError], message: str) -> None:
    error = classify(Completed(1, "", stderr), what="helm upgrade")
    assert isinstance(error, kind)
    assert error.message.startswith(message)
    assert error.hint


def test_an_unknown_repository_is_a_missing_chart() -> None:
    error = classify(Completed(1, "", "Error: repo bitnami not found"), what="helm upgrade")
    assert isinstance(error, ChartNotFoundError)


def test_classified_errors_carry_their_exit_codes() -> None:
    def code(stderr: str) -> ExitCode:
        return classify(Completed(1, "", stderr), what="x").exit_code

    assert code("connection refused") == ExitCode.ENVIRONMENT
    assert code("forbidden") == ExitCode.DEPLOY
    assert code("chart not found") == ExitCode.USAGE
    assert code("something else") == ExitCode.DEPLOY


# --- runners --------------------------------------------------------------------------------------


def test_local_runner_runs_the_mapped_binary_and_never_raises_on_failure() -> None:
    runner = LocalRunner(binaries={"helm": sys.executable})
    done = runner.run(["helm", "-c", "import sys; print('out'); sys.exit(3)"])
    assert (done.code, done.stdout) == (3, "out\n")
    assert runner.path(Path("values.yaml")) == "values.yaml"


def test_local_runner_reports_a_timeout_as_exit_124() -> None:
    runner = LocalRunner(binaries={"helm": sys.executable})
    done = runner.run(["helm", "-c", "import time; time.sleep(10)"], timeout=0.2)
    assert done.code == 124
    assert "timed out" in done.message


def test_local_runner_without_the_binary_is_an_environment_problem() -> None:
    runner = LocalRunner(binaries={"helm": "helm-does-not-exist-anywhere"})
    with pytest.raises(EnvironmentProblem, match="helm-does-not-exist-anywhere is not installed"):
        runner.run(["helm", "version"])


class _Engine:
    """Records what ContainerRunner asks of the engine."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    def run_command(
        self,
        image: str,
        argv: Sequence[str],
        *,
        mounts: Mapping[str, str],
        environment: Mapping[str, str],
        user: str,
        timeout: float,
    ) -> tuple[int, str, str]:
        self.seen = {"image": image, "argv": list(argv), "env": dict(environment), "user": user}
        return 0, "v4.0.0", ""


def test_container_runner_runs_in_the_image_with_writable_helm_homes(tmp_path: Path) -> None:
    engine = _Engine()
    runner = ContainerRunner(
        cast(Engine, engine), "reg/helm-deploy:1", {str(tmp_path): "/fleet"}, {"KUBECONFIG": "k"}
    )
    done = runner.run(["helm", "version"])
    assert done == Completed(0, "v4.0.0", "")
    assert engine.seen["image"] == "reg/helm-deploy:1"
    assert engine.seen["argv"] == ["helm", "version"]
    home = "/tmp"  # noqa: S108 - the image's writable directory, not a file of this machine
    assert engine.seen["env"]["HOME"] == home
    assert engine.seen["env"]["HELM_CACHE_HOME"].startswith(f"{home}/")
    assert engine.seen["env"]["KUBECONFIG"] == "k"


def test_container_runner_maps_mounted_paths_and_refuses_others(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    runner = ContainerRunner(cast(Engine, _Engine()), "img", {str(tmp_path): "/fleet"})
    assert runner.path(tmp_path / "values" / "a.yaml") == "/fleet/values/a.yaml"
    assert runner.path(tmp_path) == "/fleet"
    with pytest.raises(EnvironmentProblem, match="is not mounted"):
        runner.path(tmp_path.parent / "elsewhere.yaml")


# helm 4.3's (and kubectl 1.3x's) own words for bad input, recorded by running them here on a broken
# chart, a file and a directory that are not charts, malformed kubeconfigs and an oci:// registry
# that does not answer; `upgrade --install` says the same after `UPGRADE FAILED: ` (or
# `INSTALLATION FAILED: `) when the cluster answers.
REAL_BAD_INPUT = [
    (
        'Error: parse error at (app/templates/bad.yaml:1): function "nosuchfunc" not defined\n\n'
        "Use --debug flag to render out invalid YAML",
        ChartTemplateError,
        'the chart does not render: parse error at (app/templates/bad.yaml:1): function "nosuch',
    ),
    (
        "Error: UPGRADE FAILED: YAML parse error on app/templates/bad.yaml: error converting YAML "
        "to JSON: yaml: line 4: did not find expected key",
        ChartTemplateError,
        "the chart does not render: YAML parse error on app/templates/bad.yaml:",
    ),
    (
        "Error: INSTALLATION FAILED: template: app/templates/deployment.yaml:12:20: executing "
        '"app/templates/deployment.yaml" at <.Values.image.tag>: nil pointer evaluating',
        ChartTemplateError,
        "the chart does not render: template: app/templates/deployment.yaml:12:20: executing",
    ),
    (
        "Error: unable to detect chart at /srv/notachart/Chart.yaml: open "
        "/srv/notachart/Chart.yaml: no such file or directory",
        NotAChartError,
        "not a Helm chart: unable to detect chart at /srv/notachart/Chart.yaml",
    ),
    (
        "Error: file '/srv/file.txt' does not appear to be a gzipped archive; "
        "got 'application/octet-stream'",
        NotAChartError,
        "not a Helm chart: file '/srv/file.txt' does not appear to be a gzipped archive",
    ),
    (
        'Error: kubernetes cluster unreachable: error loading config file "/k/config": yaml: '
        "line 2: did not find expected node content",
        KubeconfigInvalidError,
        "/k/config: not a valid kubeconfig: yaml: line 2: did not find expected node content",
    ),
    (
        'error: error loading config file "/k/config": json: cannot unmarshal string into Go '
        "struct field Config.clusters of type []v1.NamedCluster",
        KubeconfigInvalidError,
        "/k/config: not a valid kubeconfig: json: cannot unmarshal string",
    ),
    (
        'Error: Get "https://127.0.0.1:1/v2/x/tags/list": dial tcp 127.0.0.1:1: connect: '
        "connection refused",
        ChartRegistryUnreachableError,
        "chart registry 127.0.0.1:1 unreachable: Get",
    ),
    (
        'Error: Get "https://charts.invalid/v2/x/tags/list": dial tcp: lookup charts.invalid on '
        "10.0.0.53:53: no such host",
        ChartRegistryUnreachableError,
        "chart registry charts.invalid unreachable: Get",
    ),
    (
        'Error: kubernetes cluster unreachable: Get "https://127.0.0.1:1/version": dial tcp '
        "127.0.0.1:1: connect: connection refused",
        ClusterUnreachableError,
        "Kubernetes cluster unreachable:",
    ),
    (
        "The connection to the server 127.0.0.1:1 was refused - did you specify the right host "
        "or port?",
        ClusterUnreachableError,
        "Kubernetes cluster unreachable: The connection to the server 127.0.0.1:1 was refused",
    ),
]


@pytest.mark.parametrize(("stderr", "kind", "message"), REAL_BAD_INPUT)
def test_classify_names_bad_input_and_its_source(
    stderr: str, kind: type[FleetError], message: str
) -> None:
    error = classify(Completed(1, "", stderr), what="helm upgrade")
    assert type(error) is kind
    assert error.message.startswith(message), error.message
    expected = ExitCode.ENVIRONMENT if kind.exit_code == ExitCode.ENVIRONMENT else ExitCode.USAGE
    assert error.exit_code == expected


def test_a_registry_that_refuses_is_not_the_cluster() -> None:
    # the cluster's unreachability wins when helm says so, even with a registry URL in the text
    both = (
        'Error: kubernetes cluster unreachable: Get "https://10.0.0.1:6443/v2/version": dial tcp '
        "10.0.0.1:6443: connect: connection refused"
    )
    assert isinstance(classify(Completed(1, "", both), what="x"), ClusterUnreachableError)


def _bad_inputs(tmp_path: Path) -> dict[str, list[str]]:
    """helm commands on bad input that need no cluster (and no network: loopback port 1)."""
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURES / "charts" / "fleet-app", broken)
    (broken / "templates" / "bad.yaml").write_text("{{ .Values.x | nosuchfunc }}\n")
    (tmp_path / "notes.txt").write_text("not a chart\n")
    (tmp_path / "empty").mkdir()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n  - oops\n")
    good = str(FIXTURES / "charts" / "fleet-app")
    return {
        "template": ["helm", "template", "r", str(broken)],
        "file": ["helm", "template", "r", str(tmp_path / "notes.txt")],
        "directory": ["helm", "template", "r", str(tmp_path / "empty")],
        "kubeconfig": ["helm", "upgrade", "--install", "r", good, "--kubeconfig", str(kubeconfig)],
        "registry": ["helm", "template", "r", "oci://127.0.0.1:1/fleet/app"],
    }


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("template", ChartTemplateError),
        ("file", NotAChartError),
        ("directory", NotAChartError),
        ("kubeconfig", KubeconfigInvalidError),
        ("registry", ChartRegistryUnreachableError),
    ],
)
def test_the_real_helm_s_words_are_classified(
    tmp_path: Path, case: str, kind: type[FleetError]
) -> None:
    # Keeps the recorded messages above honest against the helm that is installed.
    if shutil.which("helm") is None:
        pytest.skip("helm is not installed")
    done = LocalRunner().run(_bad_inputs(tmp_path)[case], timeout=60)
    assert done.code != 0
    assert type(classify(done, what="helm")) is kind, done.stderr
