"""SIGINT and SIGTERM sent to a real `invoke helm-deploy` while Helm waits: exit 130/143, the
release's lock released, and nothing left pending that the next deploy does not recover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO
from tests.k8s.conftest import Cluster
from tests.k8s.test_helm_deploy import CHART, config, deploy, history

pytestmark = pytest.mark.k8s


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_mid_deploy_then_the_next_deploy_succeeds(
    cluster: Cluster, namespace: str, env: dict[str, str], helm_binary: str, signum: int
) -> None:
    assert deploy(namespace, env, "--set", "message=before").code == 0
    argv = ["helm-deploy", "--release", "app", "--chart", CHART, "--namespace", namespace]
    # No kubelet runs: the Deployment never becomes ready, so Helm waits until the signal.
    argv += ["--set", "message=slow", "--set", "deployment.enabled=true", "--timeout", "5m"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *argv],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while str(history(cluster, helm_binary, namespace)[-1]["status"]) != "pending-upgrade":
            assert time.monotonic() < deadline, "the upgrade never started"
            time.sleep(0.2)
        os.kill(proc.pid, signum)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 128 + signum, output
    assert "Traceback" not in output
    after = deploy(namespace, env, "--set", "message=after")
    assert after.code == 0, after.output
    assert "waiting for the deploy" not in after.stderr  # the lock was released on the signal
    assert config(cluster, namespace)["message"] == "after"
    assert history(cluster, helm_binary, namespace)[-1]["status"] == "deployed"
