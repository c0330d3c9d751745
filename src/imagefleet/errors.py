"""Typed errors: each carries the line a user sees, the next step to take, and an exit code.

The task layer is the only place that turns these into output (``error: …`` / ``hint: …``) and
process exit codes; library code raises and never prints.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every task; documented in the README and the docs."""

    OK = 0
    INTERNAL = 1  # a bug: an unexpected exception (rerun with FLEET_DEBUG=1 for the traceback)
    USAGE = 2  # bad input: unknown image, invalid reference or tag, bad manifest or flag value
    ENVIRONMENT = 3  # a needed tool or service is missing: Docker daemon, buildx, git
    BUILD = 4  # a build failed, including a base image that cannot be pulled
    REGISTRY = 5  # registry unreachable, authentication refused, push rejected
    VERIFY = 6  # a pushed tag's digest in the registry differs from the local image
    TEST = 7  # an image's structure or pytest checks failed
    LINT = 8  # hadolint findings, fleet policy violations, or generated docs out of date
    DEPLOY = 9  # a Helm deploy failed (the previous revision is left live) or timed out
    SCAN = 10  # scan findings at or above --fail-on
    INTERRUPTED = 130  # Ctrl-C


class FleetError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str = "", details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details  # context lines shown between error and hint (e.g. a log tail)

    def __str__(self) -> str:
        return self.message


class UsageError(FleetError):
    """The command line asked for something that cannot be done as written."""

    exit_code = ExitCode.USAGE


class UnknownImageError(UsageError):
    """A name that is not a directory under ``images/``."""


class ManifestError(UsageError):
    """An ``image.yml`` (or a Dockerfile it relies on) that does not validate."""


class InvalidReferenceError(UsageError):
    """An image name, tag or registry that breaks the OCI reference grammar."""


class EnvironmentProblem(FleetError):
    """A tool or service the command needs is missing or not answering."""

    exit_code = ExitCode.ENVIRONMENT


class DaemonUnreachableError(EnvironmentProblem):
    """The Docker daemon does not answer."""


class GitError(EnvironmentProblem):
    """git is missing, or the project is not a git checkout."""


class BuildError(FleetError):
    """A build failed."""

    exit_code = ExitCode.BUILD


class BaseImagePullError(BuildError):
    """The base image of a build cannot be pulled."""


class NotBuiltError(UsageError):
    """Tag or push was asked for an image that has not been built for this commit."""


class RegistryError(FleetError):
    """The registry could not be reached or refused the push."""

    exit_code = ExitCode.REGISTRY


class RegistryUnreachableError(RegistryError):
    """Connection refused, reset, timed out or 5xx after every retry."""


class RegistryAuthError(RegistryError):
    """The registry refused our credentials (or we had none)."""


class TransientRegistryError(RegistryError):
    """A failure worth retrying: 5xx, connection reset or refused, timeout, unknown blob."""


class PushRejectedError(RegistryError):
    """The registry rejected what we pushed (manifest invalid, …): retrying will not help."""


class DigestMismatchError(FleetError):
    """A tag in the registry does not point at the image we pushed."""

    exit_code = ExitCode.VERIFY


class LintFailure(FleetError):
    """hadolint or the fleet policy found problems."""

    exit_code = ExitCode.LINT
