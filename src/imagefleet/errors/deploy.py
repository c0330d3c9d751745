"""Helm deploys, exit 9."""

from __future__ import annotations

from .base import ExitCode, FleetError

# -- deploy: 9 -----------------------------------------------------------------------------------


class DeployError(FleetError):
    """A deploy that did not succeed (after any rollback)."""

    exit_code = ExitCode.DEPLOY


class PermissionDeniedError(DeployError):
    """RBAC refused an operation."""

    template = "{what}: permission denied: {reason}"
    hint_template = (
        "the kube-context's user lacks RBAC rights in this namespace; ask for a Role with helm's "
        "verbs"
    )


class HelmCommandError(DeployError):
    """A helm or kubectl command failed for a reason nothing else names."""

    template = "{what} failed: {reason}"
    hint_template = "see the message above; FLEET_DEBUG=1 shows every helm command"


class DeployLockedError(DeployError):
    """Another deploy of the release holds its lock."""

    template = "release {release} is being deployed by {holder} (since {since} UTC)"
    hint_template = (
        "wait for that deploy to finish, or raise fleet.helm.lock_wait; a crashed "
        "deploy's lock expires by itself"
    )


class DeployLockHeldError(DeployError):
    """The deploy lock is held, and when it was last renewed is unknown."""

    template = "the deploy lock {lock} is held by {holder}"
    hint_template = DeployLockedError.hint_template


_DEPLOY_HINT = (
    "look at the failing resource (kubectl describe) and fix the chart or values; the history "
    "shows every attempt (helm history)"
)
_TIMED_OUT = (
    "deploy of {release} timed out after {timeout} waiting for its resources to become ready"
)


class DeployRolledBackError(DeployError):
    """The upgrade failed and the previous revision was rolled back to."""

    template = "{reason}; rolled back: {where}"
    hint_template = _DEPLOY_HINT


class DeployFailedError(DeployError):
    """The upgrade failed (first install, or nothing to roll back to)."""

    template = "{reason}; {where}"
    hint_template = _DEPLOY_HINT


class DeployTimedOutRolledBackError(DeployError):
    """The upgrade's resources never became ready; the previous revision was rolled back to."""

    template = _TIMED_OUT + "; rolled back: {where}"
    hint_template = _DEPLOY_HINT


class DeployTimedOutError(DeployError):
    """The upgrade's resources never became ready (nothing to roll back to)."""

    template = _TIMED_OUT + "; {where}"
    hint_template = _DEPLOY_HINT


__all__ = [
    "DeployError",
    "DeployFailedError",
    "DeployLockHeldError",
    "DeployLockedError",
    "DeployRolledBackError",
    "DeployTimedOutError",
    "DeployTimedOutRolledBackError",
    "HelmCommandError",
    "PermissionDeniedError",
]
