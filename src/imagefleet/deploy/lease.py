"""The deploy lock: a ``coordination.k8s.io/v1`` Lease per release, so two CI runners cannot
deploy the same release at once; a crashed deploy's lease expires by itself.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from ..errors import DeployLockedError, DeployLockHeldError
from .helm import classify
from .kubectl import Kubectl

LOGGER = logging.getLogger(__name__)

_POLL = 2.0  # seconds between attempts while another deploy holds the lease


class Clock:
    """Time as the lease sees it; tests pass their own, so they neither sleep nor read the clock."""

    def now(self) -> datetime:
        """Wall-clock time (UTC): lease timestamps are compared across machines."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """A timer for this process's own wait deadline."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Pause between attempts."""
        time.sleep(seconds)


class Lease:
    """A ``coordination.k8s.io/v1`` Lease named after the release: one deploy at a time."""

    def __init__(
        self,
        kubectl: Kubectl,
        namespace: str,
        release: str,
        duration: float,
        *,
        holder: str,
        scratch: Path,
        clock: Clock | None = None,
    ) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.name = f"imagefleet-deploy-{release}"[:63].rstrip("-.")
        self.duration = int(duration)
        self.holder = holder
        self.scratch = scratch  # a directory the runner can see: kubectl reads the manifest there
        self.clock = clock or Clock()

    def _manifest(self) -> Path:
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = self.scratch / f"lease-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": self.namespace,
                        "labels": {"app.kubernetes.io/managed-by": "imagefleet"},
                    },
                    "spec": {
                        "holderIdentity": self.holder,
                        "leaseDurationSeconds": self.duration,
                        "acquireTime": now,
                        "renewTime": now,
                    },
                }
            )
        )
        return path

    def _holder(self) -> tuple[str, datetime | None, int]:
        done = self.kubectl.call(
            "get", "lease", self.name, "--namespace", self.namespace, "--output", "json"
        )
        if done.code != 0:
            return "", None, 0
        spec = json.loads(done.stdout).get("spec") or {}
        renewed = spec.get("renewTime") or spec.get("acquireTime")
        when = datetime.fromisoformat(renewed.replace("Z", "+00:00")) if renewed else None
        return str(spec.get("holderIdentity", "?")), when, int(spec.get("leaseDurationSeconds", 0))

    def acquire(self, wait: float) -> None:
        """Take the lease, waiting up to ``wait`` seconds for another deploy to finish."""
        deadline = self.clock.monotonic() + wait
        manifest = self._manifest()
        announced = False
        while True:
            done = self.kubectl.call("create", "--filename", self.kubectl.runner.path(manifest))
            if done.code == 0:
                return
            if "alreadyexists" not in done.stderr.lower().replace(" ", "") and (
                "already exists" not in done.stderr.lower()
            ):
                raise classify(done, what=f"taking the deploy lock {self.name}")
            holder, renewed, duration = self._holder()
            if renewed is not None and self.clock.now() > renewed + timedelta(seconds=duration):
                LOGGER.warning("taking over the expired deploy lock of %s", holder)
                self.kubectl.call(
                    "delete",
                    "lease",
                    self.name,
                    "--namespace",
                    self.namespace,
                    "--ignore-not-found",
                )
                continue
            if self.clock.monotonic() >= deadline:
                if renewed:
                    raise DeployLockedError(
                        release=f"{self.namespace}/{self.name.removeprefix('imagefleet-deploy-')}",
                        holder=holder,
                        since=f"{renewed:%H:%M:%S}",
                    )
                raise DeployLockHeldError(lock=self.name, holder=holder)
            if not announced:
                LOGGER.warning("waiting for the deploy of %s by %s to finish", self.name, holder)
                announced = True
            self.clock.sleep(_POLL)

    def release(self) -> None:
        """Give the lease back (only ours)."""
        holder, _, _ = self._holder()
        if holder == self.holder:
            self.kubectl.call(
                "delete", "lease", self.name, "--namespace", self.namespace, "--ignore-not-found"
            )
