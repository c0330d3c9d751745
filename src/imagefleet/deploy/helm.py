"""The runners every deploy command goes through: helm and kubectl, locally or in a container.

A deploy runs helm (``template``, ``status``, ``history``, ``upgrade``, ``rollback``) and kubectl
(the namespace, the Lease), all through one runner: :class:`LocalRunner` runs the binaries on this
machine; :class:`ContainerRunner` runs the same commands in the helm-deploy image with the
kubeconfig, chart and values mounted read-only, so a CI machine needs nothing but Docker. Helm 3
and Helm 4 are told apart by ``helm version``; their flags differ (``--atomic`` became
``--rollback-on-failure``, ``--wait`` took a strategy).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import signals, tools
from ..engine import Engine
from ..errors import (
    ChartRegistryUnreachableError,
    ChartTemplateError,
    ChartUnresolvedError,
    ClusterUnreachableError,
    DeployToolMissingError,
    FleetError,
    HelmCommandError,
    HelmSetError,
    HelmVersionUnknownError,
    HelmVersionUnsupportedError,
    KubeconfigInvalidError,
    NotAChartError,
    NotMountedError,
    PermissionDeniedError,
)

LOGGER = logging.getLogger(__name__)

_CONTAINER_TMP = "/tmp"  # noqa: S108 - a path inside the throwaway deploy container
_TOKEN = re.compile(r"(?i)(bearer\s+|token[\"':= ]+)[A-Za-z0-9._~+/=-]{8,}")


def scrub(text: str) -> str:
    """Remove anything that looks like a bearer token from a tool's message."""
    return _TOKEN.sub(lambda m: m.group(1) + "***", text)


@dataclass(frozen=True)
class Completed:
    """A finished command."""

    code: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """The last meaningful line of stderr, tokens removed."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        useful = [line for line in lines if line.lower().startswith("error")] or lines
        return scrub(useful[-1] if useful else f"exit code {self.code}").removeprefix("Error: ")


class Runner(Protocol):
    """Where helm and kubectl run."""

    def run(self, argv: Sequence[str], *, timeout: float = 600) -> Completed:
        """Run a command; never raises for a non-zero exit."""
        ...

    def path(self, host: Path) -> str:
        """How a file of this machine is named for the command."""
        ...


@dataclass
class LocalRunner:
    """helm and kubectl on this machine."""

    binaries: Mapping[str, str] = field(default_factory=dict)  # e.g. {"helm": "helm3"}

    def run(self, argv: Sequence[str], *, timeout: float = 600) -> Completed:
        """Run ``argv`` (its first word mapped through ``binaries``)."""
        name = self.binaries.get(argv[0], argv[0])
        binary = tools.find(name)
        if binary is None:
            raise DeployToolMissingError(name=name)
        LOGGER.debug("running %s", " ".join([name, *argv[1:]]))
        try:
            # On a signal helm gets SIGINT and time to end: it cancels the upgrade and marks the
            # release, rather than leave it pending (a killed helm would).
            done = signals.run([binary, *argv[1:]], timeout=timeout)
        except subprocess.TimeoutExpired:
            return Completed(124, "", f"Error: {name} timed out after {timeout:.0f}s")
        return Completed(done.returncode, done.stdout, done.stderr)

    def path(self, host: Path) -> str:
        """Local files keep their names."""
        return str(host)


@dataclass
class ContainerRunner:
    """The same commands in the helm-deploy image; ``mounts`` maps host paths to container paths."""

    engine: Engine
    image: str
    mounts: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    def run(self, argv: Sequence[str], *, timeout: float = 600) -> Completed:
        """Run ``argv`` in a fresh container (as this user, so mounted 0600 files are readable)."""
        scratch = _CONTAINER_TMP  # helm and kubectl need writable homes; the image has /tmp
        env = {
            "HOME": scratch,
            "HELM_CACHE_HOME": f"{scratch}/helm/cache",
            "HELM_CONFIG_HOME": f"{scratch}/helm/config",
            "HELM_DATA_HOME": f"{scratch}/helm/data",
            **self.environment,
        }
        code, stdout, stderr = self.engine.run_command(
            self.image,
            argv,
            mounts=self.mounts,
            environment=env,
            user=f"{os.getuid()}:{os.getgid()}",
            timeout=timeout,
        )
        return Completed(code, stdout, stderr)

    def path(self, host: Path) -> str:
        """A mounted file's path inside the container."""
        resolved = host.resolve()
        for source, inside in self.mounts.items():
            source_path = Path(source)
            if resolved == source_path or source_path in resolved.parents:
                return str(Path(inside) / resolved.relative_to(source_path))
        raise NotMountedError(path=host)


_UNREACHABLE = (
    "kubernetes cluster unreachable",
    "connection refused",
    "no such host",
    "i/o timeout",
    "the connection to the server",  # kubectl: "The connection to the server H:P was refused"
)
# A registry answering for an oci:// chart: its URLs are /v2/… (the Kubernetes API's never are).
_REGISTRY_URL = re.compile(r'"https?://([^/"\s]+)/v2/')
_NETWORK = (
    *_UNREACHABLE[1:],
    "tls handshake timeout",
    "http response to https client",
    "connection reset",
    "network is unreachable",
)
# kubectl and helm: `error loading config file "PATH": yaml: line 2: …` (nothing was contacted).
_KUBECONFIG = re.compile(r'error loading config file "([^"]+)": (.+)', re.IGNORECASE)
# What helm says about a chart that is not one, or whose templates do not render. Seen on helm
# 3.x and 4.x: `helm template` and `upgrade --install` (then after `UPGRADE FAILED: ` or
# `INSTALLATION FAILED: `; rendering comes before anything is stored, so nothing was deployed).
_NOT_A_CHART = (
    "unable to detect chart at",
    "does not appear to be a gzipped archive",
    "chart.yaml file is missing",
    "validation: chart.metadata",
    "chart metadata (chart.yaml) missing",
)
_TEMPLATE = re.compile(
    r"parse error at \(|yaml parse error on |template: \S+:\d+:\d+: executing |"
    r"error converting yaml to json|function \"[^\"]+\" not defined"
)
_FORBIDDEN = ("forbidden", "unauthorized")
_NO_CHART = (
    "failed to download",
    "chart not found",
    "not a valid chart",
    "no such file or directory",
    'path "',
)

_NO_REPO = re.compile(r"\brepo \S+ not found")  # helm: "Error: repo bitnami not found"


def classify(done: Completed, *, what: str) -> FleetError:
    """Turn a failed helm/kubectl command into the error that says what to do next.

    Bad input (a malformed kubeconfig, a file that is not a chart, a template that does not
    render) is a usage error, and an unreachable chart registry is not blamed on the cluster.
    """
    if (named := _input_or_chart_source(done)) is not None:
        return named
    message = done.message
    low = done.stderr.lower()
    if any(phrase in low for phrase in _UNREACHABLE):
        return ClusterUnreachableError(reason=message)
    if any(phrase in low for phrase in _FORBIDDEN):
        return PermissionDeniedError(what=what, reason=message)
    if any(phrase in low for phrase in _NO_CHART) or _NO_REPO.search(low):
        return ChartUnresolvedError(reason=message)
    if "failed parsing --set" in low:
        return HelmSetError(reason=message)
    return HelmCommandError(what=what, reason=message)


def _input_or_chart_source(done: Completed) -> FleetError | None:
    """A failure caused by the kubeconfig, the chart, or the chart's registry, if it is one."""
    message = done.message
    low = done.stderr.lower()
    if kubeconfig := _KUBECONFIG.search(scrub(done.stderr)):
        return KubeconfigInvalidError(path=kubeconfig[1], reason=kubeconfig[2].strip())
    registry = _REGISTRY_URL.search(done.stderr)
    if (
        registry
        and "kubernetes cluster unreachable" not in low
        and any(phrase in low for phrase in _NETWORK)
    ):
        return ChartRegistryUnreachableError(host=registry[1], reason=message)
    if any(phrase in low for phrase in _NOT_A_CHART):
        return NotAChartError(reason=_without_stage(message))
    if _TEMPLATE.search(low):
        return ChartTemplateError(reason=_without_stage(message))
    return None


def _without_stage(message: str) -> str:
    """``UPGRADE FAILED: parse error …`` -> ``parse error …``: the stage says nothing here."""
    return re.sub(r"^(UPGRADE|INSTALLATION) FAILED: ", "", message)


class Helm:
    """helm commands for one release, through a runner."""

    def __init__(self, runner: Runner, *, kube_context: str | None = None) -> None:
        self.runner = runner
        self.kube_context = kube_context
        self._major: int | None = None

    def _ctx(self) -> list[str]:
        return ["--kube-context", self.kube_context] if self.kube_context else []

    def call(self, *args: str, timeout: float = 600) -> Completed:
        """``helm args… [--kube-context X]``."""
        return self.runner.run(["helm", *args, *self._ctx()], timeout=timeout)

    @property
    def major(self) -> int:
        """3 or 4 (read once from ``helm version``)."""
        if self._major is None:
            done = self.runner.run(["helm", "version", "--template", "{{.Version}}"], timeout=60)
            match = re.match(r"v(\d+)\.", done.stdout.strip())
            if done.code != 0 or not match:
                raise HelmVersionUnknownError(reason=done.message)
            self._major = int(match[1])
            if self._major not in (3, 4):
                raise HelmVersionUnsupportedError(major=self._major)
        return self._major

    def status(self, release: str, namespace: str) -> dict[str, Any] | None:
        """``helm status -o json``, or ``None`` when the release does not exist."""
        done = self.call(
            "status", release, "--namespace", namespace, "--output", "json", timeout=120
        )
        if done.code != 0:
            if "not found" in done.stderr.lower():
                return None
            raise classify(done, what=f"helm status {release}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def listed(self, release: str, namespace: str) -> dict[str, Any] | None:
        """``helm list`` entry (chart, app_version, revision, status): the same in Helm 3 and 4."""
        done = self.call(
            "list",
            "--namespace",
            namespace,
            "--filter",
            f"^{re.escape(release)}$",
            "--output",
            "json",
            timeout=120,
        )
        if done.code != 0:
            raise classify(done, what=f"helm list {release}")
        entries: list[dict[str, Any]] = json.loads(done.stdout or "[]")
        return entries[0] if entries else None

    def history(self, release: str, namespace: str) -> list[dict[str, Any]]:
        """``helm history -o json`` (oldest first); empty when the release does not exist."""
        done = self.call(
            "history",
            release,
            "--namespace",
            namespace,
            "--output",
            "json",
            "--max",
            "256",
            timeout=120,
        )
        if done.code != 0:
            if "not found" in done.stderr.lower():
                return []
            raise classify(done, what=f"helm history {release}")
        result: list[dict[str, Any]] = json.loads(done.stdout or "[]")
        return result

    def upgrade_flags(self, *, wait: bool, rollback: bool) -> list[str]:
        """The version's spelling of wait / rollback-on-failure."""
        if self.major == 3:
            return [*(["--wait"] if wait else []), *(["--atomic"] if rollback else [])]
        return [
            f"--wait={'watcher' if wait else 'hookOnly'}",
            *(["--rollback-on-failure"] if rollback else []),
        ]
