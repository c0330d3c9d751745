"""Publishing images: builds (exit 4), registries (exit 5), and verification (exit 6): pushed tags
and indexes read back, and what ``fleet.require`` asks of a pushed image."""

from __future__ import annotations

from .base import ExitCode, FleetError

# -- build: 4 ------------------------------------------------------------------------------------


class BuildError(FleetError):
    """A build failed."""

    exit_code = ExitCode.BUILD


class BaseImagePullError(BuildError):
    """The base image of a build cannot be pulled."""

    template = "{image}: base image {base} cannot be pulled: {reason}"
    hint_template = (
        "check the name and tag, `docker login` to its registry, or override the base "
        "ARG with a mirror (--build-arg)"
    )


class BuildStepError(BuildError):
    """A build step failed (its last log lines are in the details)."""

    template = "{image}: build failed at step {step}: {reason}"
    hint_template = "fix the step above, then rerun; FLEET_DEBUG=1 shows the whole build log"


class BuildFailedError(BuildError):
    """A build failed outside any step the log names."""

    template = "{image}: build failed: {reason}"
    hint_template = "fix the step above, then rerun; FLEET_DEBUG=1 shows the whole build log"


class BuiltImageMissingError(BuildError):
    """buildx finished but the image did not arrive in this daemon."""

    template = "{image}: build finished but {ref} is missing"
    hint_template = "check `docker buildx ls`: the builder must load into this daemon"


class BuildDroppedError(BuildError):
    """BuildKit dropped every bake that held the image before it was exported; no step failed."""

    template = "{image}: BuildKit dropped its build {attempts} times, no step failing ({reason})"
    hint_template = (
        "BuildKit lost the job (a killed client, a restarted daemon, or too many builds at "
        "once): check `docker info` and the daemon's log, then rerun; what was built is kept"
    )


class NoImageBuiltError(BuildError):
    """The classic builder finished without reporting an image."""

    template = "{image}: the classic builder reported no image"
    hint_template = "rerun with FLEET_DEBUG=1 to see the build log"


class ImagesFailedError(BuildError):
    """Several images were built and some failed."""

    template = "{failed} of {total} images failed ({names})"
    hint_template = "see each image's error above; fix it and rerun the same command"


class ImagesFailedSkippedError(BuildError):
    """Some images failed, and their descendants were skipped."""

    template = "{failed} of {total} images failed ({names}); {skipped} skipped ({skipped_names})"
    hint_template = "see each image's error above; fix it and rerun the same command"


# -- registry: 5 ---------------------------------------------------------------------------------


class RegistryError(FleetError):
    """The registry could not be reached or refused the push."""

    exit_code = ExitCode.REGISTRY


class UnexpectedRegistryAnswerError(RegistryError):
    """The registry answered a manifest request with neither the manifest nor 404."""

    template = "registry {domain} answered {status} for {path}:{reference}"
    hint_template = "check the repository name"


class RegistryUnreachableError(RegistryError):
    """Connection refused, reset, timed out or 5xx after every retry (hint: the last one's)."""

    template = "{reason} (gave up after {attempts} attempts)"
    hint_template = "{next_step}"


class RegistryAuthError(RegistryError):
    """The registry refused our credentials (or we had none)."""


class AuthChallengeError(RegistryAuthError):
    """A 401 whose challenge names no token service."""

    template = "{domain} sent an unusable auth challenge"
    hint_template = "check the registry's token service configuration"


class AuthRefusedError(RegistryAuthError):
    """The registry refused the configured user."""

    template = "registry {domain} refused authentication as {username!r}"
    hint_template = (
        "run `docker login {domain}` or set FLEET_REGISTRY_USERNAME and FLEET_REGISTRY_PASSWORD"
    )


class AuthRequiredError(RegistryAuthError):
    """The registry wants credentials and none are configured."""

    template = "registry {domain} refused authentication without credentials"
    hint_template = (
        "run `docker login {domain}` or set FLEET_REGISTRY_USERNAME and FLEET_REGISTRY_PASSWORD"
    )


class PushAuthError(RegistryAuthError):
    """Docker's push was refused for lack of (valid) credentials."""

    template = "push of {reference} failed: {reason}"
    hint_template = (
        "log in with `docker login HOST` (credential store) or set "
        "FLEET_REGISTRY_USERNAME and FLEET_REGISTRY_PASSWORD"
    )


class RegistryHostUnknownError(RegistryError):
    """The registry's host name does not resolve: no retry helps."""

    template = "registry host {domain} does not resolve"
    hint_template = "check the registry (HOST[:PORT]/NAMESPACE) for a typo, and this machine's DNS"


class PushHostUnknownError(RegistryError):
    """Docker's push found no address for the registry's host name: no retry helps."""

    template = "push of {reference} failed: {reason}"
    hint_template = "check the registry (HOST[:PORT]/NAMESPACE) for a typo, and the daemon's DNS"


class PushReadOnlyError(RegistryError):
    """The registry refuses uploads (405: read-only or in maintenance): no retry helps."""

    template = "push of {reference} failed: {reason}"
    hint_template = (
        "the registry accepts no uploads (read-only or maintenance mode); push to another "
        "registry or ask its owner"
    )


class PushNoSpaceError(RegistryError):
    """The registry is out of space or over its quota (507): no retry in seconds helps."""

    template = "push of {reference} failed: {reason}"
    hint_template = (
        "the registry has no space left (or the repository is over its quota); free space or "
        "raise the quota, then rerun the push: tags already verified stay, latest has not moved"
    )


class RegistryNoSpaceError(RegistryError):
    """The registry answered 507 Insufficient Storage: no retry in seconds helps."""

    template = "registry {domain} answered {status} (insufficient storage) for {path}"
    hint_template = (
        "the registry has no space left (or the repository is over its quota); free space or "
        "raise the quota, then rerun the push: tags already verified stay, latest has not moved"
    )


class TransientRegistryError(RegistryError):
    """A failure worth retrying: 5xx, connection reset or refused, timeout, unknown blob."""


class RegistryRefusedError(TransientRegistryError):
    """The registry refused the connection."""

    template = "registry {domain} refused the connection"
    hint_template = "check that the registry is running"


class RegistryTimeoutError(TransientRegistryError):
    """The registry did not answer in time."""

    template = "registry {domain} timed out"
    hint_template = "check the network and the registry's load"


class RegistryServerError(TransientRegistryError):
    """The registry answered 5xx (or 429)."""

    template = "registry {domain} answered {status} for {path}"
    hint_template = "the registry is failing; retry later"


class PushTransientError(TransientRegistryError):
    """Docker's push failed in a way a retry may fix."""

    template = "push of {reference} failed: {reason}"
    hint_template = "check that the registry is running and reachable from the Docker daemon"


class PushInterruptedError(TransientRegistryError):
    """The connection to the daemon broke during a push."""

    template = "push of {reference} was interrupted: {reason}"
    hint_template = "check that the Docker daemon is still running"


class PushWithoutDigestError(TransientRegistryError):
    """Docker's push stream ended without the pushed digest."""

    template = "push of {reference} ended without a digest"
    hint_template = "retry the push"


class PullFailedError(RegistryError):
    """An image the run needs from the registry (content built elsewhere) cannot be pulled."""

    template = "cannot pull {ref}: {reason}"
    hint_template = (
        "check that the registry is reachable and that you are logged in (`docker login HOST`)"
    )


class RunPullFailedError(RegistryError):
    """``invoke run --pull`` of an image that is neither built here nor pullable."""

    template = "{name} is not built here and {ref} cannot be pulled: {reason}"
    hint_template = (
        "check --tag and that you are logged in to the registry (`docker login {host}`), or "
        "build it: `invoke build --image {name}`"
    )


class PushRejectedError(RegistryError):
    """The registry rejected what we pushed (manifest invalid, …): retrying will not help."""

    template = "push of {reference} failed: {reason}"
    hint_template = "the registry refused the image; check its storage and the repository name"


class StagedDigestMissingError(RegistryError):
    """``invoke promote``: a recorded digest that the registry does not hold; no tag was moved."""

    template = "{reference} is not in the registry: nothing was tagged"
    hint_template = (
        "promote digests that `invoke build --push --digests DIR` pushed to this registry "
        "(--registry) in this run; a rerun of a failed build records new ones"
    )


# -- verify: 6 -----------------------------------------------------------------------------------


class DigestMismatchError(FleetError):
    """A tag in the registry does not point at the image we pushed."""

    exit_code = ExitCode.VERIFY


class TagMissingAfterPushError(DigestMismatchError):
    """The tag is not in the registry right after the push."""

    template = "{reference} is missing from the registry right after the push"
    hint_template = "the registry may be dropping writes; check its storage and logs"


class TagDigestMismatchError(DigestMismatchError):
    """The registry's tag points at another manifest than Docker pushed."""

    template = "{reference} points at {remote}, but Docker pushed {pushed}"
    hint_template = "another push may be racing this one; rerun, and check CI concurrency groups"


class TagOverwrittenError(DigestMismatchError):
    """The tag's manifest is not the local image's."""

    template = "{reference} holds {remote}, not the local image {image_id}"
    hint_template = "the tag was overwritten during the push; rerun it"


class PlatformManifestMissingError(DigestMismatchError):
    """A platform manifest that a pushed index lists is not in the registry."""

    template = "{reference}: the index lists {platform} as {digest}, which the registry lacks"
    hint_template = "the push left the index incomplete; rerun it, and check the registry's storage"


class PlatformManifestMismatchError(DigestMismatchError):
    """A platform manifest of a pushed index reads back with another digest than the index names."""

    template = "{reference}: {platform} reads back as {remote}, but the index names {digest}"
    hint_template = "the registry altered the manifest; rerun the push, and check the registry"


class ConfigBlobMissingError(DigestMismatchError):
    """The config blob a pushed platform manifest names is not in the registry."""

    template = "{reference}: the config {config} of {platform} is missing from the registry"
    hint_template = "the push left the image incomplete; rerun it, and check the registry's storage"


class VerificationError(FleetError):
    """A pushed image lacks something the settings require (``invoke verify``)."""

    exit_code = ExitCode.VERIFY


class RequirementsMissingError(VerificationError):
    """``invoke verify``: what ``fleet.require`` names is missing from the pushed image."""

    template = "{reference} lacks what fleet.require asks for: {missing}"
    hint_template = (
        "build on BuildKit nodes with provenance and SBOM attestations (fleet.sbom_generator) "
        "for every platform the manifest lists, push again, or drop the item from fleet.require"
    )


__all__ = [
    "AuthChallengeError",
    "AuthRefusedError",
    "AuthRequiredError",
    "BaseImagePullError",
    "BuildDroppedError",
    "BuildError",
    "BuildFailedError",
    "BuildStepError",
    "BuiltImageMissingError",
    "ConfigBlobMissingError",
    "DigestMismatchError",
    "ImagesFailedError",
    "ImagesFailedSkippedError",
    "NoImageBuiltError",
    "PlatformManifestMismatchError",
    "PlatformManifestMissingError",
    "PullFailedError",
    "PushAuthError",
    "PushHostUnknownError",
    "PushInterruptedError",
    "PushNoSpaceError",
    "PushReadOnlyError",
    "PushRejectedError",
    "PushTransientError",
    "PushWithoutDigestError",
    "RegistryAuthError",
    "RegistryError",
    "RegistryHostUnknownError",
    "RegistryNoSpaceError",
    "RegistryRefusedError",
    "RegistryServerError",
    "RegistryTimeoutError",
    "RegistryUnreachableError",
    "RequirementsMissingError",
    "RunPullFailedError",
    "StagedDigestMissingError",
    "TagDigestMismatchError",
    "TagMissingAfterPushError",
    "TagOverwrittenError",
    "TransientRegistryError",
    "UnexpectedRegistryAnswerError",
    "VerificationError",
]
