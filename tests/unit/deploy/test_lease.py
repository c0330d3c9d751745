"""The deploy lock: a Lease taken through kubectl, waited for, taken over when stale, released."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagefleet.deploy.kubectl import Kubectl
from imagefleet.deploy.lease import Lease
from imagefleet.errors import DeployError, PermissionDeniedError

from .fakes import MOUNT, START, FakeClock, FakeRunner, fail, ok

NAME = "imagefleet-deploy-app"
EXISTS = fail(
    f'Error from server (AlreadyExists): leases.coordination.k8s.io "{NAME}" already exists'
)
ME = "ci-runner-1/100/aaaa"
OTHER = "ci-runner-2/200/bbbb"


def held(holder: str, renewed: datetime | None, duration: int = 300) -> dict[str, Any]:
    spec: dict[str, Any] = {"holderIdentity": holder, "leaseDurationSeconds": duration}
    if renewed is not None:
        spec["renewTime"] = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"kind": "Lease", "metadata": {"name": NAME}, "spec": spec}


def lease(runner: FakeRunner, tmp_path: Path, clock: FakeClock, **kwargs: Any) -> Lease:
    return Lease(
        Kubectl(runner, kwargs.pop("context", None)),
        "team",
        kwargs.pop("release", "app"),
        kwargs.pop("duration", 420.7),
        holder=ME,
        scratch=tmp_path,
        clock=clock,
    )


def test_acquire_when_free_creates_our_lease(tmp_path: Path) -> None:
    runner = FakeRunner().on("kubectl", "create", reply=ok())
    clock = FakeClock()
    lease(runner, tmp_path, clock, context="staging").acquire(wait=60)
    [create] = runner.calls
    assert create[:3] == ["kubectl", "create", "--filename"]
    assert create[-2:] == ["--context", "staging"]
    assert create[3].startswith(f"{MOUNT}{tmp_path}/")  # the manifest, as the runner sees it
    manifest = yaml.safe_load(Path(create[3].removeprefix(MOUNT)).read_text())
    assert manifest["kind"] == "Lease"
    assert manifest["metadata"] == {
        "name": NAME,
        "namespace": "team",
        "labels": {"app.kubernetes.io/managed-by": "imagefleet"},
    }
    assert manifest["spec"] == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 420,
        "acquireTime": "2025-01-02T12:00:00.000000Z",
        "renewTime": "2025-01-02T12:00:00.000000Z",
    }
    assert clock.sleeps == []


def test_a_long_release_name_still_makes_a_valid_lease_name(tmp_path: Path) -> None:
    release = "a" * 44 + "-b"  # the prefix plus this is 64 characters: cut, then no trailing "-"
    made = lease(FakeRunner(), tmp_path, FakeClock(), release=release)
    assert len(made.name) <= 63
    assert made.name == f"imagefleet-deploy-{'a' * 44}"


def test_waits_while_held_then_acquires_after_release(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = (
        FakeRunner()
        .on("kubectl", "create", reply=[EXISTS, EXISTS, ok()])
        .on("kubectl", "get", "lease", reply=ok(held(OTHER, START)))
    )
    clock = FakeClock()
    with caplog.at_level(logging.WARNING, logger="imagefleet"):
        lease(runner, tmp_path, clock).acquire(wait=60)
    assert runner.verbs() == [
        "kubectl create",
        "kubectl get",
        "kubectl create",
        "kubectl get",
        "kubectl create",
    ]
    assert clock.sleeps == [2.0, 2.0]
    waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert waiting == [f"waiting for the deploy of {NAME} by {OTHER} to finish"]  # said once


def test_an_expired_lease_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stale = held(OTHER, START - timedelta(minutes=10), duration=300)
    runner = (
        FakeRunner()
        .on("kubectl", "create", reply=[EXISTS, ok()])
        .on("kubectl", "get", "lease", reply=ok(stale))
        .on("kubectl", "delete", reply=ok())
    )
    clock = FakeClock()
    with caplog.at_level(logging.WARNING, logger="imagefleet"):
        lease(runner, tmp_path, clock).acquire(wait=0)
    assert runner.commands("kubectl", "delete") == [
        ["kubectl", "delete", "lease", NAME, "--namespace", "team", "--ignore-not-found"]
    ]
    assert runner.verbs()[-1] == "kubectl create"
    assert clock.sleeps == []
    assert f"taking over the expired deploy lock of {OTHER}" in caplog.text


def test_a_lease_within_its_duration_is_not_taken_over(tmp_path: Path) -> None:
    fresh = held(OTHER, START - timedelta(seconds=299), duration=300)
    runner = (
        FakeRunner()
        .on("kubectl", "create", reply=EXISTS)
        .on("kubectl", "get", "lease", reply=ok(fresh))
    )
    with pytest.raises(DeployError):
        lease(runner, tmp_path, FakeClock()).acquire(wait=0)
    assert runner.commands("kubectl", "delete") == []


def test_waiting_too_long_names_the_holder(tmp_path: Path) -> None:
    runner = (
        FakeRunner()
        .on("kubectl", "create", reply=EXISTS)
        .on("kubectl", "get", "lease", reply=ok(held(OTHER, START)))
    )
    clock = FakeClock()
    with pytest.raises(DeployError) as caught:
        lease(runner, tmp_path, clock).acquire(wait=5)
    assert caught.value.message == (
        f"release team/app is being deployed by {OTHER} (since 12:00:00 UTC)"
    )
    assert "fleet.helm.lock_wait" in caught.value.hint
    assert clock.sleeps == [2.0, 2.0, 2.0]  # 6 s > 5 s: gave up on the next look
    assert runner.commands("kubectl", "delete") == []


def test_waiting_too_long_on_a_lease_without_times_still_names_the_holder(tmp_path: Path) -> None:
    runner = (
        FakeRunner()
        .on("kubectl", "create", reply=EXISTS)
        .on("kubectl", "get", "lease", reply=ok(held(OTHER, None)))
    )
    with pytest.raises(DeployError, match=f"the deploy lock {NAME} is held by {OTHER}$"):
        lease(runner, tmp_path, FakeClock()).acquire(wait=0)


def test_a_refused_create_is_classified_not_waited_on(tmp_path: Path) -> None:
    runner = FakeRunner().on(
        "kubectl",
        "create",
        reply=fail('Error from server (Forbidden): leases is forbidden: User "ci" cannot create'),
    )
    clock = FakeClock()
    with pytest.raises(PermissionDeniedError, match=f"taking the deploy lock {NAME}"):
        lease(runner, tmp_path, clock).acquire(wait=60)
    assert clock.sleeps == []
    assert runner.verbs() == ["kubectl create"]


def test_release_deletes_only_our_own_lease(tmp_path: Path) -> None:
    runner = (
        FakeRunner()
        .on("kubectl", "get", "lease", reply=ok(held(ME, START)))
        .on("kubectl", "delete", reply=ok())
    )
    lease(runner, tmp_path, FakeClock()).release()
    assert runner.commands("kubectl", "delete") == [
        ["kubectl", "delete", "lease", NAME, "--namespace", "team", "--ignore-not-found"]
    ]


@pytest.mark.parametrize(
    "reply",
    [ok(held(OTHER, START)), fail(f'Error from server (NotFound): leases "{NAME}" not found')],
    ids=["someone else's", "gone"],
)
def test_release_leaves_a_lease_that_is_not_ours(tmp_path: Path, reply: Any) -> None:
    runner = FakeRunner().on("kubectl", "get", "lease", reply=reply)
    lease(runner, tmp_path, FakeClock()).release()
    assert runner.verbs() == ["kubectl get"]
