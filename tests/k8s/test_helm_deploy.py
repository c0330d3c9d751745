"""`invoke helm-deploy` against a real Kubernetes API, with Helm 4 (`helm`) and Helm 3 (`helm3`).

No kubelet runs: Pods stay Pending, so a Deployment never becomes ready (the --wait timeout case)
and healthy revisions of the fixture chart carry no workload.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, Result, invoke
from tests.k8s.conftest import Cluster

pytestmark = pytest.mark.k8s

CHART = str(FIXTURES / "charts" / "fleet-app")


def deploy(namespace: str, env: dict[str, str], *args: str, release: str = "app") -> Result:
    return invoke(
        REPO,
        "helm-deploy",
        "--release",
        release,
        "--chart",
        CHART,
        "--namespace",
        namespace,
        *args,
        env=env,
    )


def config(cluster: Cluster, namespace: str, release: str = "app") -> dict[str, str]:
    done = cluster.kubectl("get", "configmap", f"{release}-config", "-n", namespace, "-o", "json")
    data: dict[str, str] = json.loads(done.stdout)["data"]
    return data


def history(
    cluster: Cluster, helm_binary: str, namespace: str, release: str = "app"
) -> list[dict[str, object]]:
    done = subprocess.run(
        [helm_binary, "history", release, "-n", namespace, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
    )
    entries: list[dict[str, object]] = json.loads(done.stdout)
    return entries


def no_secrets(cluster: Cluster, *results: Result) -> None:
    token = cluster.token()
    for result in results:
        assert token not in result.output
        assert "Traceback" not in result.output


def test_install_then_upgrade_with_values_and_image(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str, tmp_path: Path
) -> None:
    first = deploy(namespace, env, "--set", "message=first", "--json")
    assert first.code == 0, first.output
    result = json.loads(first.stdout)
    assert (result["revision"], result["status"], result["chart"], result["app_version"]) == (
        1,
        "deployed",
        "fleet-app-0.1.0",
        "1.0.0",
    )
    assert result["helm"] == ("v3" if helm_binary == "helm3" else "v4")
    assert config(cluster, namespace)["message"] == "first"

    values = tmp_path / "values.yaml"
    values.write_text("message: from a values file\n")
    second = deploy(
        namespace,
        env,
        "--values",
        str(values),
        "--image",
        "helm-deploy",
        "--tag",
        "2.0.0",
        "--json",
    )
    assert second.code == 0, second.output
    assert json.loads(second.stdout)["revision"] == 2
    data = config(cluster, namespace)
    assert data["message"] == "from a values file"
    assert data["image"] == "docker.io/webgrip/helm-deploy:2.0.0"
    no_secrets(cluster, first, second)


def test_rejected_manifest_is_rolled_back(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str
) -> None:
    assert deploy(namespace, env, "--set", "message=good").code == 0
    failed = deploy(namespace, env, "--set", "message=bad", "--set", "rejected=true")
    assert failed.code == 9, failed.output
    assert "is invalid" in failed.stderr
    entries = history(cluster, helm_binary, namespace)
    live = [e for e in entries if e["status"] == "deployed"]
    assert len(live) == 1
    assert f"revision {live[0]['revision']} is live" in failed.stderr
    assert config(cluster, namespace)["message"] == "good"  # the live objects, not just history
    no_secrets(cluster, failed)


def test_wait_timeout_is_rolled_back(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str
) -> None:
    assert deploy(namespace, env, "--set", "message=steady").code == 0
    failed = deploy(
        namespace,
        env,
        "--set",
        "message=slow",
        "--set",
        "deployment.enabled=true",
        "--timeout",
        "5s",
    )
    assert failed.code == 9, failed.output
    assert "timed out after 5s" in failed.stderr
    assert "is live" in failed.stderr
    assert config(cluster, namespace)["message"] == "steady"
    gone = cluster.kubectl("get", "deployment", "app-app", "-n", namespace, check=False)
    assert gone.returncode != 0  # the Deployment of the failed revision was removed
    assert history(cluster, helm_binary, namespace)[-1]["status"] == "deployed"


def _interrupt(cluster: Cluster, helm_binary: str, namespace: str, verb: str) -> None:
    """Start a deploy that waits forever, and kill it mid-flight: a real pending-* state."""
    argv = [
        helm_binary,
        verb,
        "app",
        CHART,
        "-n",
        namespace,
        "--set",
        "deployment.enabled=true",
        "--wait",
        "--timeout",
        "5m",
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = subprocess.run(
                [helm_binary, "status", "app", "-n", namespace, "-o", "json"],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
            )
            if done.returncode == 0 and json.loads(done.stdout)["info"]["status"].startswith(
                "pending-"
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"helm {verb} never reached a pending state")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_stuck_pending_upgrade_is_rolled_back_first(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str
) -> None:
    assert deploy(namespace, env, "--set", "message=before").code == 0
    _interrupt(cluster, helm_binary, namespace, "upgrade")
    assert history(cluster, helm_binary, namespace)[-1]["status"] == "pending-upgrade"
    result = deploy(namespace, env, "--set", "message=after", "--json")
    assert result.code == 0, result.output
    assert "rolled app back from pending-upgrade to revision 1" in result.stderr
    assert json.loads(result.stdout)["recovered"].startswith("rolled app back")
    assert config(cluster, namespace)["message"] == "after"
    entries = history(cluster, helm_binary, namespace)
    # Helm keeps the interrupted revision's record; what matters is what is live now.
    assert entries[-1]["status"] == "deployed"
    assert [e["status"] for e in entries].count("deployed") == 1


def test_stuck_pending_install_is_removed_first(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str
) -> None:
    cluster.kubectl("create", "namespace", namespace)
    _interrupt(cluster, helm_binary, namespace, "install")
    result = deploy(namespace, env, "--set", "message=fresh", "--json")
    assert result.code == 0, result.output
    assert "stuck in pending-install and never deployed" in result.stderr
    assert json.loads(result.stdout)["revision"] == 1
    assert config(cluster, namespace)["message"] == "fresh"


def test_a_second_deploy_waits_for_the_first(
    cluster: Cluster, namespace: str, env: dict[str, str], tmp_path: Path
) -> None:
    assert deploy(namespace, env).code == 0
    lease = tmp_path / "lease.yaml"
    lease.write_text(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n"
        f"  name: imagefleet-deploy-app\n  namespace: {namespace}\n"
        "spec:\n  holderIdentity: other-runner/42\n  leaseDurationSeconds: 600\n"
        f'  renewTime: "{time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}"\n'
    )
    cluster.kubectl("create", "-f", str(lease))
    blocked = deploy(namespace, {**env, "INVOKE_FLEET_HELM_LOCK_WAIT": "3"})
    assert blocked.code == 9, blocked.output
    assert "is being deployed by other-runner/42" in blocked.stderr

    def finish_other() -> None:
        time.sleep(4)
        cluster.kubectl("delete", "lease", "imagefleet-deploy-app", "-n", namespace)

    other = threading.Thread(target=finish_other)
    other.start()
    started = time.monotonic()
    waited = deploy(namespace, {**env, "INVOKE_FLEET_HELM_LOCK_WAIT": "60"}, "--json")
    other.join()
    assert waited.code == 0, waited.output
    assert time.monotonic() - started >= 3
    assert "waiting for the deploy" in waited.stderr


def test_two_deploys_at_once_do_not_corrupt_the_release(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str
) -> None:
    assert deploy(namespace, env).code == 0
    results: list[Result] = []

    def run(message: str) -> None:
        results.append(deploy(namespace, env, "--set", f"message={message}"))

    threads = [threading.Thread(target=run, args=(m,)) for m in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.code for r in results] == [0, 0], [r.output for r in results]
    statuses = [e["status"] for e in history(cluster, helm_binary, namespace)]
    assert statuses == ["superseded", "superseded", "deployed"]
    assert config(cluster, namespace)["message"] in ("one", "two")


def test_dry_run_validates_offline(tmp_path: Path, helm_binary: str) -> None:
    # No cluster at all: a kubeconfig that does not exist.
    env = {
        "KUBECONFIG": str(tmp_path / "nope"),
        "INVOKE_FLEET_HELM_BINARY": helm_binary,
        "INVOKE_FLEET_ROOT": str(REPO),
    }
    good = deploy("anywhere", env, "--dry-run", "--json", "--set", "deployment.enabled=true")
    assert good.code == 0, good.output
    assert json.loads(good.stdout)["objects"] == [
        "ConfigMap/anywhere/app-config",
        "Deployment/anywhere/app-app",
    ]
    bad = deploy("anywhere", env, "--dry-run", "--set", "schemaInvalid=true")
    assert bad.code == 2, bad.output
    assert "1 rendered manifest(s)" in bad.stderr
    assert (
        "Deployment/anywhere/app-invalid (fleet-app/templates/invalid.yaml): "
        "spec.replicas: 'many' is not of type 'integer'" in bad.stderr
    )


def test_diff_shows_each_object(cluster: Cluster, namespace: str, env: dict[str, str]) -> None:
    assert deploy(namespace, env, "--set", "message=old").code == 0
    result = deploy(
        namespace,
        env,
        "--diff",
        "--set",
        "message=new",
        "--set",
        "deployment.enabled=true",
        "--json",
    )
    assert result.code == 0, result.output
    changes = {c["object"]: c for c in json.loads(result.stdout)}
    assert changes[f"Deployment/{namespace}/app-app"]["action"] == "added"
    changed = changes[f"ConfigMap/{namespace}/app-config"]
    assert changed["action"] == "changed"
    assert "-  message: old" in changed["diff"]
    assert "+  message: new" in changed["diff"]
    assert config(cluster, namespace)["message"] == "old"  # --diff deploys nothing
    text = deploy(namespace, env, "--diff", "--set", "message=new")
    assert f"changed ConfigMap/{namespace}/app-config" in text.stdout


def test_errors_are_one_line_with_a_hint(
    cluster: Cluster, namespace: str, env: dict[str, str], tmp_path: Path
) -> None:
    cases = [
        (("--values", str(tmp_path / "missing.yaml")), 2, "values file"),
        (("--set", "novalue"), 2, "invalid --set 'novalue'"),
        (("--kube-context", "elsewhere"), 2, "kube-context 'elsewhere' is not in the kubeconfig"),
        (("--timeout", "soon"), 2, "invalid --timeout"),
    ]
    for args, code, needle in cases:
        result = deploy(namespace, env, *args)
        assert result.code == code, result.output
        assert needle in result.stderr
        assert "hint: " in result.stderr
    missing = invoke(
        REPO,
        "helm-deploy",
        "--release",
        "app",
        "--chart",
        str(tmp_path / "no-chart"),
        "--namespace",
        namespace,
        env=env,
    )
    assert missing.code == 2
    assert "chart not found" in missing.stderr

    closed = tmp_path / "closed.kubeconfig"
    closed.write_text(
        cluster.kubeconfig.read_text().replace(
            "server: https://127.0.0.1:", "server: https://127.0.0.1:1#"
        )
    )
    unreachable = deploy(namespace, {**env, "KUBECONFIG": str(closed)})
    assert unreachable.code == 3, unreachable.output
    assert "unreachable" in unreachable.stderr.lower()
    no_secrets(cluster, missing, unreachable)


def test_in_container_needs_only_docker(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str, tmp_path: Path
) -> None:
    from imagefleet.engine import Engine
    from imagefleet.errors import FleetError
    from tests.helpers import require

    try:
        engine = Engine.connect()
    except FleetError as exc:
        require(exc.message, "start Docker: ../shared/env/provision docker")
        return
    context = tmp_path / "image"
    context.mkdir()
    for name, target in (("busybox", "busybox"), (helm_binary, "helm"), ("kubectl", "kubectl")):
        found = shutil.which(name)
        assert found, name
        shutil.copy2(Path(found).resolve(), context / target)
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", '
        '"/bin"]\nRUN mkdir -p /tmp && chmod 1777 /tmp\n'
        "COPY helm kubectl /usr/local/bin/\nENV PATH=/usr/local/bin:/bin\nUSER 10001\n"
    )
    tag = f"fx-helm-deploy:{helm_binary}"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True
    )
    try:
        # No helm on the PATH this deploy sees: everything runs in the container.
        bare = {**env, "PATH": "/usr/bin:/bin", "INVOKE_FLEET_HELM_BINARY": "helm"}
        result = deploy(
            namespace,
            bare,
            "--in-container",
            "--deploy-image",
            tag,
            "--set",
            "message=from a container",
            "--json",
        )
        assert result.code == 0, result.output
        data = json.loads(result.stdout)
        assert (data["revision"], data["in_container"]) == (1, True)
        assert config(cluster, namespace)["message"] == "from a container"
        no_secrets(cluster, result)
        assert not engine.client.containers.list(
            all=True, filters={"label": "imagefleet.run=command"}
        )
    finally:
        engine.remove(tag)


def test_no_wait_failure_is_rolled_back_by_the_wrapper(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str
) -> None:
    # Without --wait, Helm's own rollback-on-failure is off (it implies waiting): the wrapper
    # rolls back itself and still names the live revision.
    assert deploy(namespace, env, "--no-wait", "--set", "message=kept").code == 0
    failed = deploy(namespace, env, "--no-wait", "--set", "message=lost", "--set", "rejected=true")
    assert failed.code == 9, failed.output
    entries = history(cluster, helm_binary, namespace)
    assert entries[-1]["status"] == "deployed"
    assert f"revision {entries[-1]['revision']} is live" in failed.stderr
    assert config(cluster, namespace)["message"] == "kept"


def test_no_permission_is_one_line(
    cluster: Cluster, namespace: str, env: dict[str, str], tmp_path: Path
) -> None:
    kubeconfig = cluster.unprivileged(tmp_path / "nobody.kubeconfig")
    if kubeconfig is None:
        pytest.skip("an external cluster (KUBECONFIG) has no unprivileged test user")
    result = deploy(namespace, {**env, "KUBECONFIG": str(kubeconfig)})
    assert result.code == 9, result.output
    assert "permission denied" in result.stderr
    assert "forbidden" in result.stderr.lower()
    assert "hint: the kube-context's user lacks RBAC rights" in result.stderr
    no_secrets(cluster, result)
    assert (tmp_path / "nobody.kubeconfig").read_text().split("token: ")[
        1
    ].strip() not in result.output
