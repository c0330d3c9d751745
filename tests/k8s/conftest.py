"""A real Kubernetes API for the helm-deploy tests: $KUBECONFIG when set, else a control plane
started here from the binaries on PATH; both helm (v4) and helm3 (v3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import require
from tests.k8s import controlplane

HELMS = ("helm", "helm3")


@dataclass(frozen=True)
class Cluster:
    """How to reach the test cluster."""

    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl against the test cluster."""
        return subprocess.run(
            ["kubectl", *args],
            capture_output=True,
            text=True,
            check=check,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        )

    def unprivileged(self, target: Path) -> Path | None:
        """A kubeconfig for a user without RBAC rights (only for a cluster started here)."""
        token_file = self.kubeconfig.parent / "pki" / "nobody.token"
        if not token_file.is_file():
            return None
        target.write_text(
            self.kubeconfig.read_text().replace(self.token(), token_file.read_text().strip())
        )
        target.chmod(0o600)
        return target

    def token(self) -> str:
        """The admin token (tests assert it never appears in output)."""
        for line in self.kubeconfig.read_text().splitlines():
            if line.strip().startswith("token:"):
                return line.split(":", 1)[1].strip()
        return ""


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        require("kubectl is missing", "run ../shared/env/provision helm")
    given = os.environ.get("KUBECONFIG")
    if given:
        yield Cluster(Path(given))
        return
    absent = controlplane.missing()
    if absent:
        require(
            f"no Kubernetes control plane binaries ({', '.join(absent)})",
            "run ../shared/env/provision k8s, or set KUBECONFIG",
        )
    with controlplane.running(tmp_path_factory.mktemp("k8s")) as kubeconfig:
        yield Cluster(kubeconfig)


@pytest.fixture(params=HELMS)
def helm_binary(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if shutil.which(name) is None:
        require(f"{name} is missing", "run ../shared/env/provision helm")
    return name


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted (with its releases) afterwards."""
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def env(cluster: Cluster, helm_binary: str) -> dict[str, str]:
    """Environment for the CLI: the cluster, the helm under test, the repository as root."""
    from tests.helpers import REPO

    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "INVOKE_FLEET_HELM_BINARY": helm_binary,
        "INVOKE_FLEET_ROOT": str(REPO),
    }
