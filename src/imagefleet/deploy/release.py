"""Safe ``helm upgrade --install``: one deploy per release at a time, stuck releases recovered,
failed upgrades rolled back, and the live revision always reported.

Order of a deploy: validate inputs (nothing touched yet) → take the release's lock (a Kubernetes
``Lease`` in its namespace, so two CI runners cannot deploy it at once) → recover a release left in
``pending-*`` by an interrupted deploy (roll back to the last deployed revision, or uninstall one
that never deployed) → upgrade with the Helm version's rollback-on-failure → read the history to
say which revision is live → release the lock.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    DeployError,
    DeployFailedError,
    DeployRolledBackError,
    DeployTimedOutError,
    DeployTimedOutRolledBackError,
    InvalidNamespaceError,
    InvalidReleaseNameError,
    InvalidSetError,
    InvalidTimeoutError,
    KubernetesSchemaError,
    MissingChartPathError,
    MissingNamespaceError,
    MissingValuesFileError,
    PermissionDeniedError,
)
from . import objects
from .helm import Completed, Helm, Runner, classify
from .kubectl import Kubectl
from .lease import Clock, Lease

LOGGER = logging.getLogger(__name__)

_RELEASE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION_RE = re.compile(r"^(\d+(\.\d+)?(ms|s|m|h))+$")
_SET_RE = re.compile(r"^[^=\s]+=.*$", re.S)
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
LIVE = ("deployed",)


def seconds(duration: str) -> float:
    """A Go duration (``5m``, ``90s``, ``1h30m``) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ms|s|m|h)", duration))


@dataclass(frozen=True, kw_only=True)
class DeployRequest:
    """What to deploy, where, and how (``timeout`` and ``history_max`` from ``Settings.helm``)."""

    release: str
    chart: str
    namespace: str
    values: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()
    set_strings: tuple[str, ...] = ()  # image repository and tag: never coerced to numbers
    timeout: str
    wait: bool = True
    create_namespace: bool = True
    history_max: int

    def check(self) -> None:
        """Reject bad input before anything runs."""
        if not _RELEASE_RE.match(self.release) or len(self.release) > 53:
            raise InvalidReleaseNameError(release=self.release)
        if not _NAMESPACE_RE.match(self.namespace) or len(self.namespace) > 63:
            raise InvalidNamespaceError(namespace=self.namespace)
        for path in self.values:
            if not path.is_file():
                raise MissingValuesFileError(path=path)
        for item in (*self.sets, *self.set_strings):
            if not _SET_RE.match(item):
                raise InvalidSetError(item=item)
        if not _DURATION_RE.match(self.timeout):
            raise InvalidTimeoutError(timeout=self.timeout)
        if _looks_local(self.chart) and not Path(self.chart).exists():
            raise MissingChartPathError(chart=self.chart)


def _looks_local(chart: str) -> bool:
    if chart.startswith("oci://"):
        return False
    return (
        chart.startswith((".", "/", "~"))
        or chart.endswith(".tgz")
        or Path(chart).exists()
        or chart.count("/") != 1
    )


@dataclass(frozen=True)
class DeployResult:
    """A finished deploy."""

    release: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    seconds: float
    helm: str
    recovered: str | None = None
    in_container: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "seconds": round(self.seconds, 2)}


@dataclass
class Session:
    """A runner plus a scratch directory the runner can see (for files such as the lease)."""

    runner: Runner
    scratch: Path
    kube_context: str | None = None
    holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    )
    clock: Clock = field(default_factory=Clock)  # the lease's; tests pass one that never sleeps

    def kubectl(self, *args: str, timeout: float = 120) -> Completed:
        """``kubectl args… [--context X]`` through the runner."""
        return Kubectl(self.runner, self.kube_context).call(*args, timeout=timeout)

    def helm(self) -> Helm:
        """A helm for this session's context."""
        return Helm(self.runner, kube_context=self.kube_context)


def _values_args(session: Session, request: DeployRequest) -> list[str]:
    args: list[str] = []
    for path in request.values:
        args += ["--values", session.runner.path(path)]
    for item in request.sets:
        args += ["--set", item]
    for item in request.set_strings:
        args += ["--set-string", item]
    return args


def _chart(session: Session, chart: str) -> str:
    return session.runner.path(Path(chart)) if _looks_local(chart) else chart


def render(session: Session, request: DeployRequest) -> str:
    """``helm template``: the manifests this deploy would apply (no cluster involved)."""
    done = session.runner.run(
        [
            "helm",
            "template",
            request.release,
            _chart(session, request.chart),
            "--namespace",
            request.namespace,
            *_values_args(session, request),
        ],
        timeout=300,
    )
    if done.code != 0:
        raise classify(done, what="helm template")
    return str(done.stdout)


def dry_run(session: Session, request: DeployRequest, kubernetes_version: str) -> list[str]:
    """Render and validate every manifest offline; return the objects (raise on problems)."""
    request.check()
    rendered = render(session, request)
    problems = objects.validate(rendered, request.namespace, kubernetes_version)
    if problems:
        raise KubernetesSchemaError(
            count=len(problems),
            chart=request.chart,
            version=kubernetes_version,
            details=[f"{p.key} ({p.source}): {p.message}" for p in problems],
        )
    return [objects.key(obj, request.namespace) for _, obj in objects.split(rendered)]


def diff(session: Session, request: DeployRequest) -> list[objects.Change]:
    """What the deploy would change, object by object, against the live release."""
    request.check()
    done = session.helm().call(
        "get", "manifest", request.release, "--namespace", request.namespace, timeout=120
    )
    if done.code != 0 and "not found" not in done.stderr.lower():
        raise classify(done, what="helm get manifest")
    live = done.stdout if done.code == 0 else ""
    return objects.diff(live, render(session, request), request.namespace)


def ensure_namespace(session: Session, namespace: str, create: bool) -> None:
    """The lease lives in the release namespace, so it must exist before the deploy starts."""
    done = session.kubectl("get", "namespace", namespace, "--output", "name")
    if done.code == 0:
        return
    if "notfound" not in done.stderr.lower().replace(" ", ""):
        raise classify(done, what=f"reading namespace {namespace}")
    if not create:
        raise MissingNamespaceError(namespace=namespace)
    created = session.kubectl("create", "namespace", namespace)
    if created.code != 0 and "already exists" not in created.stderr.lower():
        raise classify(created, what=f"creating namespace {namespace}")


def _last_good(history: list[dict[str, Any]]) -> int | None:
    good = [int(h["revision"]) for h in history if h.get("status") in ("deployed", "superseded")]
    return max(good) if good else None


def recover(helm: Helm, release: str, namespace: str) -> str | None:
    """Bring a release stuck in ``pending-*`` back; return what was done (``None``: nothing)."""
    status = helm.status(release, namespace)
    state = ((status or {}).get("info") or {}).get("status")
    if state not in PENDING:
        return None
    history = helm.history(release, namespace)
    target = _last_good(history)
    if target is None:
        done = helm.call("uninstall", release, "--namespace", namespace, timeout=300)
        if done.code != 0:
            raise classify(done, what=f"removing {release} stuck in {state}")
        action = f"removed {release}: it was stuck in {state} and never deployed"
    else:
        done = helm.call("rollback", release, str(target), "--namespace", namespace, timeout=300)
        if done.code != 0:
            raise classify(done, what=f"rolling {release} back from {state}")
        action = f"rolled {release} back from {state} to revision {target}"
    LOGGER.warning("recovered: %s", action)
    return action


def live_revision(helm: Helm, release: str, namespace: str) -> int | None:
    """The revision whose status is ``deployed``, if any."""
    history = helm.history(release, namespace)
    live = [int(h["revision"]) for h in history if h.get("status") in LIVE]
    return max(live) if live else None


def deploy(
    session: Session, request: DeployRequest, *, lock_wait: float, in_container: bool = False
) -> DeployResult:
    """Deploy ``request`` safely (see the module docstring); raise :class:`DeployError`.

    ``lock_wait`` (``Settings.helm.lock_wait``): seconds to wait for another deploy of the release.
    """
    request.check()
    helm = session.helm()
    started = time.monotonic()
    major = helm.major
    # Rendered offline first: a chart that is not one, does not render or cannot be fetched,
    # and values that do not parse are refused before the namespace is made or a lease taken.
    render(session, request)
    ensure_namespace(session, request.namespace, request.create_namespace)
    lease = Lease(
        Kubectl(session.runner, session.kube_context),
        request.namespace,
        request.release,
        seconds(request.timeout) + 120,
        holder=session.holder,
        scratch=session.scratch,
        clock=session.clock,
    )
    lease.acquire(lock_wait)
    try:
        recovered = recover(helm, request.release, request.namespace)
        before = live_revision(helm, request.release, request.namespace)
        args = [
            "upgrade",
            "--install",
            request.release,
            _chart(session, request.chart),
            "--namespace",
            request.namespace,
            "--timeout",
            request.timeout,
            "--history-max",
            str(request.history_max),
            "--cleanup-on-fail",
            *(["--create-namespace"] if request.create_namespace else []),
            *helm.upgrade_flags(wait=request.wait, rollback=request.wait),
            *_values_args(session, request),
        ]
        done = helm.call(*args, timeout=seconds(request.timeout) * 2 + 120)
        if done.code != 0:
            _fail(helm, request, done, before)
        listed = helm.listed(request.release, request.namespace) or {}
    finally:
        lease.release()
    return DeployResult(
        release=request.release,
        namespace=request.namespace,
        revision=int(listed.get("revision", 0)),
        status=str(listed.get("status", "?")),
        chart=str(listed.get("chart", "?")),
        app_version=str(listed.get("app_version", "")),
        seconds=time.monotonic() - started,
        helm=f"v{major}",
        recovered=recovered,
        in_container=in_container,
    )


def _fail(helm: Helm, request: DeployRequest, done: Any, before: int | None) -> None:
    """After a failed upgrade: make sure the previous revision is live, then say so."""
    error = classify(done, what=f"deploy of {request.release}")
    if not isinstance(error, DeployError) or isinstance(error, PermissionDeniedError):
        raise error  # nothing was changed: unreachable cluster, bad chart or input, RBAC
    if not request.wait and before is not None:
        # Without --wait, Helm's own rollback-on-failure is off (it implies waiting): do it here.
        state = ((helm.status(request.release, request.namespace) or {}).get("info") or {}).get(
            "status"
        )
        if state != "deployed" or live_revision(helm, request.release, request.namespace) != before:
            helm.call(
                "rollback",
                request.release,
                str(before),
                "--namespace",
                request.namespace,
                timeout=300,
            )
    live = live_revision(helm, request.release, request.namespace)
    low = done.stderr.lower()
    timed_out = "context deadline exceeded" in low or "timed out" in low
    where = f"revision {live} is live" if live is not None else "no revision is live"
    rolled_back = before is not None and bool(live)
    if timed_out and rolled_back:
        raise DeployTimedOutRolledBackError(
            release=request.release, timeout=request.timeout, where=where
        )
    if timed_out:
        raise DeployTimedOutError(release=request.release, timeout=request.timeout, where=where)
    if rolled_back:
        raise DeployRolledBackError(reason=error.message, where=where)
    raise DeployFailedError(reason=error.message, where=where)
