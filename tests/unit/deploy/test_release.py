"""A release's deploy over a scripted runner: input checks, recovery, upgrade, rollback, lock."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagefleet.deploy.helm import Helm
from imagefleet.deploy.release import (
    DeployRequest,
    DeployResult,
    Session,
    deploy,
    diff,
    dry_run,
    ensure_namespace,
    live_revision,
    recover,
    render,
    seconds,
)
from imagefleet.errors import (
    ChartNotFoundError,
    ChartRegistryUnreachableError,
    ChartTemplateError,
    ClusterUnreachableError,
    DeployError,
    ExitCode,
    KubeconfigInvalidError,
    KubernetesSchemaError,
    NotAChartError,
    PermissionDeniedError,
    UsageError,
)
from imagefleet.settings import HelmSettings

from .fakes import MOUNT, START, FakeClock, FakeRunner, fail, ok

HOLDER = "test-runner/1/cafe"
HELM = HelmSettings()  # the defaults a request gets from Settings.helm
CONFIGMAP = """---
# Source: app/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: hello
"""
LISTED = {"revision": "2", "status": "deployed", "chart": "app-0.1.0", "app_version": "1.0"}


def request(**changes: Any) -> DeployRequest:
    fields: dict[str, Any] = {
        "release": "app",
        "chart": "charts/app",
        "namespace": "team",
        "timeout": HELM.timeout,
        "history_max": HELM.history_max,
    }
    return DeployRequest(**{**fields, **changes})


def history(*entries: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"revision": r, "status": s, "chart": "app-0.1.0"} for r, s in entries]


def status(state: str) -> dict[str, Any]:
    return {"name": "app", "info": {"status": state}}


def lease_of(holder: str) -> dict[str, Any]:
    return {
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 420,
            "renewTime": START.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    }


def cluster(version: str = "v4.0.0") -> FakeRunner:
    """A healthy release at revision 1 that upgrades to revision 2; the lease is free."""
    return (
        FakeRunner()
        .on("helm", "version", reply=ok(version))
        .on("helm", "template", reply=ok(CONFIGMAP))
        .on("kubectl", "get", "namespace", reply=ok("namespace/team"))
        .on("kubectl", "create", "--filename", reply=ok())
        .on("kubectl", "get", "lease", reply=ok(lease_of(HOLDER)))
        .on("kubectl", "delete", "lease", reply=ok())
        .on("helm", "status", reply=ok(status("deployed")))
        .on("helm", "history", reply=ok(history((1, "deployed"))))
        .on("helm", "upgrade", reply=ok())
        .on("helm", "list", reply=ok([LISTED]))
    )


def session(runner: FakeRunner, tmp_path: Path, context: str | None = None) -> Session:
    return Session(runner, tmp_path, context, holder=HOLDER, clock=FakeClock())


def upgrade_argv(runner: FakeRunner) -> list[str]:
    [argv] = runner.commands("helm", "upgrade")
    return argv


# --- input checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("release", ["app", "my-app", "a.b-c", "a1", "a" * 53])
def test_valid_release_names(release: str) -> None:
    request(release=release).check()


@pytest.mark.parametrize("release", ["App", "-app", "app-", "my_app", "a..b", "", "a" * 54])
def test_invalid_release_names(release: str) -> None:
    with pytest.raises(UsageError, match="invalid release name") as caught:
        request(release=release).check()
    assert "53 characters" in caught.value.hint


@pytest.mark.parametrize("namespace", ["Team", "team.a", "-team", "t_a", "a" * 64])
def test_invalid_namespaces(namespace: str) -> None:
    with pytest.raises(UsageError, match=f"invalid namespace '{namespace}'"):
        request(namespace=namespace).check()
    request(namespace="a" * 63).check()


@pytest.mark.parametrize("timeout", ["90s", "5m", "1h30m", "500ms", "1.5h"])
def test_valid_durations(timeout: str) -> None:
    request(timeout=timeout).check()


@pytest.mark.parametrize("timeout", ["5", "5 m", "five", "5d", "", "-5m"])
def test_invalid_durations(timeout: str) -> None:
    with pytest.raises(UsageError, match="invalid --timeout"):
        request(timeout=timeout).check()


@pytest.mark.parametrize(("duration", "value"), [("90s", 90), ("1h30m", 5400), ("500ms", 0.5)])
def test_seconds_of_a_duration(duration: str, value: float) -> None:
    assert seconds(duration) == value


@pytest.mark.parametrize("item", ["a=b", "a.b.c=", "list={1,2}", "a=b=c", "a=multi\nline"])
def test_valid_set_forms(item: str) -> None:
    request(sets=(item,), set_strings=(item,)).check()


@pytest.mark.parametrize("item", ["novalue", "=x", "a b=c", ""])
@pytest.mark.parametrize("field", ["sets", "set_strings"])
def test_invalid_set_forms(item: str, field: str) -> None:
    with pytest.raises(UsageError, match="invalid --set") as caught:
        request(**{field: (item,)}).check()
    assert caught.value.hint == "write --set KEY=VALUE (KEY a.b.c)"


def test_values_files_must_exist(tmp_path: Path) -> None:
    present = tmp_path / "values.yaml"
    present.write_text("a: 1\n")
    request(values=(present,)).check()
    with pytest.raises(UsageError, match=r"values file .*missing\.yaml does not exist"):
        request(values=(present, tmp_path / "missing.yaml")).check()


@pytest.mark.parametrize(
    "chart", ["bitnami/nginx", "oci://ghcr.io/team/charts/app", "oci://reg/a/b/c"]
)
def test_repository_and_oci_charts_are_left_to_helm(chart: str) -> None:
    request(chart=chart).check()


@pytest.mark.parametrize(
    "chart", ["./charts/missing", "/no/such/chart", "~/chart", "app-0.1.0.tgz", "a/b/c", "nginx"]
)
def test_local_chart_forms_must_exist(chart: str) -> None:
    with pytest.raises(ChartNotFoundError, match=f"chart not found: {chart} does not exist"):
        request(chart=chart).check()


def test_an_existing_chart_directory_passes(tmp_path: Path) -> None:
    request(chart=str(tmp_path)).check()


def test_settings_own_the_request_defaults() -> None:
    names = {f.name: f for f in dataclasses.fields(DeployRequest)}
    for name in ("timeout", "history_max"):
        assert names[name].default is dataclasses.MISSING, f"{name} repeats a settings default"
    with pytest.raises(TypeError):
        DeployRequest(release="app", chart="c/app", namespace="team")  # type: ignore[call-arg]


# --- render, dry run, diff ------------------------------------------------------------------------


def test_render_passes_files_through_the_runner_and_keeps_value_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for path in (first, second):
        path.write_text("{}\n")
    runner = FakeRunner().on("helm", "template", reply=ok(CONFIGMAP))
    wanted = request(
        chart=str(tmp_path),
        values=(first, second),
        sets=("replicas=2",),
        set_strings=("image.tag=0123",),
    )
    assert render(session(runner, tmp_path), wanted) == CONFIGMAP
    assert runner.calls == [
        [
            "helm",
            "template",
            "app",
            f"{MOUNT}{tmp_path}",
            "--namespace",
            "team",
            "--values",
            f"{MOUNT}{first}",
            "--values",
            f"{MOUNT}{second}",
            "--set",
            "replicas=2",
            "--set-string",
            "image.tag=0123",
        ]
    ]


def test_render_failure_is_classified(tmp_path: Path) -> None:
    runner = FakeRunner().on("helm", "template", reply=fail('Error: repo "x" chart not found'))
    with pytest.raises(ChartNotFoundError):
        render(session(runner, tmp_path), request(chart="x/app"))


def test_dry_run_lists_the_validated_objects(tmp_path: Path) -> None:
    runner = FakeRunner().on("helm", "template", reply=ok(CONFIGMAP))
    assert dry_run(session(runner, tmp_path), request(chart="x/app"), "1.30.0") == [
        "ConfigMap/team/app-config"
    ]
    assert runner.verbs() == ["helm template"]  # no cluster involved


def test_dry_run_reports_every_invalid_object(tmp_path: Path) -> None:
    invalid = (
        CONFIGMAP
        + "---\n# Source: app/templates/deploy.yaml\n"
        + yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": "many"},
            }
        )
    )
    runner = FakeRunner().on("helm", "template", reply=ok(invalid))
    with pytest.raises(KubernetesSchemaError, match="1 rendered manifest") as caught:
        dry_run(session(runner, tmp_path), request(chart="x/app"), "1.30.0")
    [detail] = caught.value.details
    assert detail.startswith("Deployment/team/web (app/templates/deploy.yaml): ")


def test_diff_against_the_live_release(tmp_path: Path) -> None:
    live = CONFIGMAP.replace("hello", "bye")
    runner = (
        FakeRunner()
        .on("helm", "get", "manifest", reply=ok(live))
        .on("helm", "template", reply=ok(CONFIGMAP))
    )
    [change] = diff(session(runner, tmp_path, "staging"), request(chart="x/app"))
    assert (change.key, change.action) == ("ConfigMap/team/app-config", "changed")
    assert "-  greeting: bye" in change.diff
    assert "+  greeting: hello" in change.diff
    assert runner.calls[0] == [
        "helm",
        "get",
        "manifest",
        "app",
        "--namespace",
        "team",
        "--kube-context",
        "staging",
    ]


def test_diff_of_a_new_release_adds_everything(tmp_path: Path) -> None:
    runner = (
        FakeRunner()
        .on("helm", "get", "manifest", reply=fail("Error: release: not found"))
        .on("helm", "template", reply=ok(CONFIGMAP))
    )
    changes = diff(session(runner, tmp_path), request(chart="x/app"))
    assert [(c.key, c.action) for c in changes] == [("ConfigMap/team/app-config", "added")]


def test_diff_fails_when_the_cluster_does_not_answer(tmp_path: Path) -> None:
    runner = FakeRunner().on("helm", "get", reply=fail("Error: connection refused"))
    with pytest.raises(ClusterUnreachableError):
        diff(session(runner, tmp_path), request(chart="x/app"))


# --- recovery of pending releases -----------------------------------------------------------------


def test_pending_install_that_never_deployed_is_uninstalled() -> None:
    runner = (
        FakeRunner()
        .on("helm", "status", reply=ok(status("pending-install")))
        .on("helm", "history", reply=ok(history((1, "pending-install"))))
        .on("helm", "uninstall", reply=ok())
    )
    action = recover(Helm(runner), "app", "team")
    assert action == "removed app: it was stuck in pending-install and never deployed"
    assert runner.commands("helm", "uninstall") == [
        ["helm", "uninstall", "app", "--namespace", "team"]
    ]
    assert runner.commands("helm", "rollback") == []


@pytest.mark.parametrize(
    ("state", "entries", "target"),
    [
        ("pending-upgrade", ((1, "superseded"), (2, "deployed"), (3, "pending-upgrade")), 2),
        ("pending-rollback", ((1, "superseded"), (2, "failed"), (3, "pending-rollback")), 1),
        ("pending-install", ((1, "superseded"), (2, "pending-install")), 1),
    ],
)
def test_pending_release_is_rolled_back_to_the_last_deployed_revision(
    state: str, entries: tuple[tuple[int, str], ...], target: int
) -> None:
    runner = (
        FakeRunner()
        .on("helm", "status", reply=ok(status(state)))
        .on("helm", "history", reply=ok(history(*entries)))
        .on("helm", "rollback", reply=ok())
    )
    action = recover(Helm(runner, kube_context="ctx"), "app", "team")
    assert action == f"rolled app back from {state} to revision {target}"
    assert runner.commands("helm", "rollback") == [
        ["helm", "rollback", "app", str(target), "--namespace", "team", "--kube-context", "ctx"]
    ]
    assert runner.commands("helm", "uninstall") == []


@pytest.mark.parametrize(
    "reply",
    [ok(status("deployed")), ok(status("failed")), fail("Error: release: not found")],
    ids=["deployed", "failed", "absent"],
)
def test_nothing_pending_means_nothing_done(reply: Any) -> None:
    runner = FakeRunner().on("helm", "status", reply=reply)
    assert recover(Helm(runner), "app", "team") is None
    assert runner.verbs() == ["helm status"]


def test_a_failed_recovery_is_classified() -> None:
    runner = (
        FakeRunner()
        .on("helm", "status", reply=ok(status("pending-upgrade")))
        .on("helm", "history", reply=ok(history((1, "deployed"), (2, "pending-upgrade"))))
        .on("helm", "rollback", reply=fail("Error: rollbacks is forbidden"))
    )
    with pytest.raises(PermissionDeniedError, match="rolling app back from pending-upgrade"):
        recover(Helm(runner), "app", "team")


def test_live_revision_is_the_deployed_one() -> None:
    runner = FakeRunner().on(
        "helm", "history", reply=ok(history((1, "superseded"), (2, "deployed"), (3, "failed")))
    )
    assert live_revision(Helm(runner), "app", "team") == 2
    runner.on("helm", "history", reply=ok(history((1, "failed"))))
    assert live_revision(Helm(runner), "app", "team") is None


# --- the namespace --------------------------------------------------------------------------------


def test_a_missing_namespace_is_created(tmp_path: Path) -> None:
    runner = (
        FakeRunner()
        .on(
            "kubectl",
            "get",
            reply=fail('Error from server (NotFound): namespaces "team" not found'),
        )
        .on("kubectl", "create", reply=ok())
    )
    ensure_namespace(session(runner, tmp_path, "ctx"), "team", create=True)
    assert runner.calls[-1] == ["kubectl", "create", "namespace", "team", "--context", "ctx"]


def test_a_missing_namespace_without_create_is_a_usage_error(tmp_path: Path) -> None:
    runner = FakeRunner().on("kubectl", "get", reply=fail('namespaces "team" not found'))
    with pytest.raises(UsageError, match="namespace team does not exist"):
        ensure_namespace(session(runner, tmp_path), "team", create=False)
    assert runner.verbs() == ["kubectl get"]


def test_a_namespace_created_meanwhile_is_fine(tmp_path: Path) -> None:
    runner = (
        FakeRunner()
        .on("kubectl", "get", reply=fail('namespaces "team" not found'))
        .on("kubectl", "create", reply=fail('namespaces "team" already exists'))
    )
    ensure_namespace(session(runner, tmp_path), "team", create=True)
    assert runner.verbs() == ["kubectl get", "kubectl create"]


def test_a_forbidden_namespace_read_is_classified(tmp_path: Path) -> None:
    runner = FakeRunner().on("kubectl", "get", reply=fail("namespaces is forbidden"))
    with pytest.raises(PermissionDeniedError, match="reading namespace team"):
        ensure_namespace(session(runner, tmp_path), "team", create=True)


# --- deploy ---------------------------------------------------------------------------------------


def test_deploy_upgrades_under_the_lease_and_reports_the_release(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("{}\n")
    chart = tmp_path / "chart"
    chart.mkdir()
    runner = cluster()
    wanted = request(
        chart=str(chart), values=(values,), sets=("a=b",), set_strings=("image.tag=abc",)
    )
    result = deploy(session(runner, tmp_path), wanted, lock_wait=60, in_container=True)
    assert runner.verbs() == [
        "helm version",
        "helm template",  # offline first: a bad chart changes nothing in the cluster
        "kubectl get",  # namespace
        "kubectl create",  # lease
        "helm status",  # anything pending?
        "helm history",  # the live revision before
        "helm upgrade",
        "helm list",
        "kubectl get",  # the lease: still ours?
        "kubectl delete",
    ]
    assert upgrade_argv(runner) == [
        "helm",
        "upgrade",
        "--install",
        "app",
        f"{MOUNT}{chart}",
        "--namespace",
        "team",
        "--timeout",
        "5m",
        "--history-max",
        "10",
        "--cleanup-on-fail",
        "--create-namespace",
        "--wait=watcher",
        "--rollback-on-failure",
        "--values",
        f"{MOUNT}{values}",
        "--set",
        "a=b",
        "--set-string",
        "image.tag=abc",
    ]
    assert runner.timeouts[runner.calls.index(upgrade_argv(runner))] == 5 * 60 * 2 + 120
    assert dataclasses.replace(result, seconds=0) == DeployResult(
        release="app",
        namespace="team",
        revision=2,
        status="deployed",
        chart="app-0.1.0",
        app_version="1.0",
        seconds=0,
        helm="v4",
        recovered=None,
        in_container=True,
    )


def test_deploy_with_helm_3_spells_the_flags_the_helm_3_way(tmp_path: Path) -> None:
    runner = cluster("v3.16.2")
    result = deploy(session(runner, tmp_path), request(chart="x/app"), lock_wait=60)
    argv = upgrade_argv(runner)
    assert argv[argv.index("--cleanup-on-fail") + 1 :] == [
        "--create-namespace",
        "--wait",
        "--atomic",
    ]
    assert result.helm == "v3"


def test_deploy_takes_the_settings_values_and_the_kube_context(tmp_path: Path) -> None:
    runner = cluster()
    wanted = request(
        chart="x/app", timeout="90s", history_max=3, create_namespace=False, wait=False
    )
    deploy(session(runner, tmp_path, "staging"), wanted, lock_wait=60)
    argv = upgrade_argv(runner)
    assert argv[argv.index("--timeout") + 1] == "90s"
    assert argv[argv.index("--history-max") + 1] == "3"
    assert "--create-namespace" not in argv
    assert argv[-3:] == ["--wait=hookOnly", "--kube-context", "staging"]
    assert all(c[-2:] == ["--context", "staging"] for c in runner.commands("kubectl"))
    lease = yaml.safe_load(
        Path(runner.commands("kubectl", "create")[0][3][len(MOUNT) :]).read_text()
    )
    assert lease["spec"]["leaseDurationSeconds"] == 90 + 120  # outlives the deploy's own timeout
    assert lease["spec"]["holderIdentity"] == HOLDER


def test_deploy_reports_what_it_recovered(tmp_path: Path) -> None:
    runner = (
        cluster()
        .on("helm", "status", reply=ok(status("pending-upgrade")))
        .on("helm", "history", reply=ok(history((1, "deployed"), (2, "pending-upgrade"))))
        .on("helm", "rollback", reply=ok())
    )
    result = deploy(session(runner, tmp_path), request(chart="x/app"), lock_wait=60)
    assert result.recovered == "rolled app back from pending-upgrade to revision 1"
    verbs = runner.verbs()
    assert verbs.index("helm rollback") < verbs.index("helm upgrade")
    assert verbs.index("kubectl create") < verbs.index("helm rollback")  # under the lock


def test_invalid_input_touches_nothing(tmp_path: Path) -> None:
    runner = cluster()
    with pytest.raises(UsageError):
        deploy(session(runner, tmp_path), request(chart="x/app", timeout="soon"), lock_wait=60)
    assert runner.calls == []


def test_a_missing_namespace_is_refused_before_the_lock(tmp_path: Path) -> None:
    runner = cluster().on("kubectl", "get", "namespace", reply=fail('namespaces "team" not found'))
    with pytest.raises(UsageError, match="namespace team does not exist"):
        deploy(
            session(runner, tmp_path), request(chart="x/app", create_namespace=False), lock_wait=60
        )
    assert runner.commands("kubectl", "create") == []


def test_a_held_lock_stops_the_deploy_before_helm_changes_anything(tmp_path: Path) -> None:
    runner = (
        cluster()
        .on("kubectl", "create", "--filename", reply=fail('leases "x" already exists'))
        .on("kubectl", "get", "lease", reply=ok(lease_of("other/2/beef")))
    )
    live = session(runner, tmp_path)
    with pytest.raises(DeployError, match="release team/app is being deployed by other/2/beef"):
        deploy(live, request(chart="x/app"), lock_wait=4)
    assert isinstance(live.clock, FakeClock)
    assert live.clock.sleeps == [2.0, 2.0]
    assert runner.commands("helm", "upgrade") == []
    assert runner.commands("kubectl", "delete") == []  # not ours to give back


def test_a_wait_timeout_is_rolled_back_and_the_live_revision_reported(tmp_path: Path) -> None:
    runner = (
        cluster()
        .on(
            "helm",
            "history",
            reply=[
                ok(history((1, "superseded"), (2, "deployed"))),
                ok(history((1, "superseded"), (2, "superseded"), (3, "failed"), (4, "deployed"))),
            ],
        )
        .on(
            "helm",
            "upgrade",
            reply=fail(
                "Error: UPGRADE FAILED: release app failed, and has been rolled back due to "
                "rollback-on-failure being set: context deadline exceeded"
            ),
        )
    )
    with pytest.raises(DeployError) as caught:
        deploy(session(runner, tmp_path), request(chart="x/app", timeout="2m"), lock_wait=60)
    assert caught.value.message == (
        "deploy of app timed out after 2m waiting for its resources to become ready; "
        "rolled back: revision 4 is live"
    )
    assert "kubectl describe" in caught.value.hint
    assert caught.value.exit_code == ExitCode.DEPLOY
    assert runner.commands("helm", "rollback") == []  # helm's own rollback-on-failure did it
    assert runner.verbs()[-2:] == ["kubectl get", "kubectl delete"]  # the lease given back


def test_a_failed_upgrade_names_helm_s_reason(tmp_path: Path) -> None:
    runner = (
        cluster()
        .on(
            "helm",
            "history",
            reply=[
                ok(history((1, "deployed"))),
                ok(history((1, "superseded"), (2, "failed"), (3, "deployed"))),
            ],
        )
        .on(
            "helm", "upgrade", reply=fail('Error: UPGRADE FAILED: Deployment.apps "app" is invalid')
        )
    )
    with pytest.raises(DeployError) as caught:
        deploy(session(runner, tmp_path), request(chart="x/app"), lock_wait=60)
    assert caught.value.message == (
        'deploy of app failed: UPGRADE FAILED: Deployment.apps "app" is invalid; '
        "rolled back: revision 3 is live"
    )


def test_a_failed_first_install_says_nothing_is_live(tmp_path: Path) -> None:
    runner = (
        cluster()
        .on("helm", "status", reply=fail("Error: release: not found"))
        .on("helm", "history", reply=fail("Error: release: not found"))
        .on("helm", "upgrade", reply=fail("Error: INSTALLATION FAILED: context deadline exceeded"))
    )
    with pytest.raises(DeployError) as caught:
        deploy(session(runner, tmp_path), request(chart="x/app", timeout="1m"), lock_wait=60)
    assert caught.value.message == (
        "deploy of app timed out after 1m waiting for its resources to become ready; "
        "no revision is live"
    )


def test_without_wait_the_wrapper_rolls_back_itself(tmp_path: Path) -> None:
    runner = (
        cluster()
        .on("helm", "status", reply=[ok(status("deployed")), ok(status("failed"))])
        .on(
            "helm",
            "history",
            reply=[
                ok(history((1, "deployed"))),
                ok(history((1, "superseded"), (2, "failed"), (3, "deployed"))),
            ],
        )
        .on("helm", "upgrade", reply=fail("Error: UPGRADE FAILED: admission webhook denied it"))
        .on("helm", "rollback", reply=ok())
    )
    with pytest.raises(DeployError, match=r"rolled back: revision 3 is live$"):
        deploy(session(runner, tmp_path), request(chart="x/app", wait=False), lock_wait=60)
    assert runner.commands("helm", "rollback") == [
        ["helm", "rollback", "app", "1", "--namespace", "team"]
    ]


def test_without_wait_a_release_still_live_at_its_revision_is_left_alone(tmp_path: Path) -> None:
    runner = cluster().on(
        "helm", "upgrade", reply=fail("Error: UPGRADE FAILED: chart requires kubeVersion >= 1.40")
    )
    with pytest.raises(DeployError, match=r"; rolled back: revision 1 is live$"):
        deploy(session(runner, tmp_path), request(chart="x/app", wait=False), lock_wait=60)
    assert runner.commands("helm", "rollback") == []


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ('Error: UPGRADE FAILED: deployments.apps is forbidden: User "ci"', PermissionDeniedError),
        ("Error: Kubernetes cluster unreachable: connection refused", ClusterUnreachableError),
        ('Error: failed parsing --set data: key "a" has no value', UsageError),
        (
            "Error: UPGRADE FAILED: parse error at (app/templates/x.yaml:3): "
            'function "nosuchfunc" not defined',
            ChartTemplateError,
        ),
        (
            "Error: INSTALLATION FAILED: file '/srv/notes.txt' does not appear to be a gzipped "
            "archive; got 'text/plain; charset=utf-8'",
            NotAChartError,
        ),
        (
            'Error: Get "https://127.0.0.1:1/v2/app/tags/list": dial tcp 127.0.0.1:1: '
            "connect: connection refused",
            ChartRegistryUnreachableError,
        ),
    ],
)
def test_failures_that_changed_nothing_are_raised_as_they_are(
    tmp_path: Path, stderr: str, kind: type[Exception]
) -> None:
    runner = cluster().on("helm", "upgrade", reply=fail(stderr))
    with pytest.raises(kind):
        deploy(session(runner, tmp_path), request(chart="x/app"), lock_wait=60)
    assert runner.commands("helm", "rollback") == []
    assert len(runner.commands("helm", "history")) == 1  # no second look: nothing moved
    assert runner.verbs()[-1] == "kubectl delete"  # the lease is given back all the same


def test_the_result_as_json_rounds_the_seconds() -> None:
    result = DeployResult("app", "team", 2, "deployed", "app-0.1.0", "1.0", 1.23456, "v4")
    assert result.as_dict()["seconds"] == 1.23
    assert result.as_dict()["recovered"] is None


def test_a_malformed_kubeconfig_is_bad_input_before_anything_is_deployed(tmp_path: Path) -> None:
    # kubectl reads the kubeconfig first (the namespace check): its words, recorded here.
    runner = cluster().on(
        "kubectl",
        "get",
        "namespace",
        reply=fail(
            'error: error loading config file "/k/config": yaml: line 2: did not find expected '
            "node content"
        ),
    )
    with pytest.raises(KubeconfigInvalidError) as caught:
        deploy(session(runner, tmp_path), request(chart="x/app"), lock_wait=60)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message.startswith("/k/config: not a valid kubeconfig: yaml: line 2")
    assert runner.commands("helm", "upgrade") == []
    assert runner.commands("kubectl", "create") == []  # no lease taken


def test_a_broken_template_is_bad_input_not_a_failed_deploy(tmp_path: Path) -> None:
    runner = cluster().on(
        "helm",
        "upgrade",
        reply=fail(
            "Error: UPGRADE FAILED: YAML parse error on app/templates/cm.yaml: error converting "
            "YAML to JSON: yaml: line 4: did not find expected key"
        ),
    )
    with pytest.raises(ChartTemplateError) as caught:
        deploy(session(runner, tmp_path), request(chart="x/app"), lock_wait=60)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "app/templates/cm.yaml" in caught.value.message
    assert "previous revision" not in caught.value.message
    assert runner.commands("helm", "rollback") == []


def test_an_unreachable_chart_registry_in_a_dry_run_is_not_the_cluster(tmp_path: Path) -> None:
    runner = FakeRunner().on(
        "helm",
        "template",
        reply=fail(
            'Error: Get "https://127.0.0.1:1/v2/app/tags/list": dial tcp 127.0.0.1:1: connect: '
            "connection refused"
        ),
    )
    with pytest.raises(ChartRegistryUnreachableError) as caught:
        render(session(runner, tmp_path), request(chart="oci://127.0.0.1:1/app"))
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert "Kubernetes" not in caught.value.message
