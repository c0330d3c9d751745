"""Bad input on the command line, exit 2: selections, flags, settings, deploy options; refused
before anything changes (image references are in :mod:`.references`, bad input files in
:mod:`.files`)."""

from __future__ import annotations

from typing import Protocol

from .base import ExitCode, FleetError

# -- usage: 2 ------------------------------------------------------------------------------------


class UsageError(FleetError):
    """The command line (or a file it names) asks for something that cannot be done as written."""

    exit_code = ExitCode.USAGE


class SelectionConflictError(UsageError):
    """More than one way of selecting images was given."""

    template = "choose one of --image, --all and --changed"
    hint_template = "they select images"


class NoSelectionError(UsageError):
    """A task that needs images got none."""

    template = "no image selected"
    hint_template = "pass --image NAME (repeatable), --all or --changed"


class UnknownImageError(UsageError):
    """A name that is not a directory under ``images/``, with the close names."""

    template = "unknown image {name!r}"
    hint_template = "did you mean {close}?"


class UnknownImageNoMatchError(UnknownImageError):
    """A name that is not a directory under ``images/``, and not close to any."""

    hint_template = "run `invoke list` to see the images"


class NotBuiltError(UsageError):
    """Tag, push, test or scan was asked for an image that has not been built for this commit."""

    template = "{name} has not been built for this commit ({ref} is missing)"
    hint_template = "run `invoke build --image {name}` first"


class StaleParentError(UsageError):
    """``build --no-deps`` of an image whose in-repo parent has no image of its current content."""

    template = "{name} builds on {parent}, whose image is out of date ({reason})"
    hint_template = (
        "build {parent} first (`invoke build --image {parent}`), or drop --no-deps to build it "
        "in the same run"
    )


class GithubOutputUnsetError(UsageError):
    """``--github-output`` outside GitHub Actions."""

    template = "--github-output needs $GITHUB_OUTPUT"
    hint_template = "it is set inside GitHub Actions; use --json elsewhere"


class GithubOutputNeedsMatrixError(UsageError):
    """``invoke plan --github-output`` without ``--matrix``: only the matrix goes to outputs."""

    template = "plan --github-output writes the wave matrices: it needs --matrix"
    hint_template = "run `invoke plan --matrix --github-output` (with --all, --changed or --image)"


class InvalidJobsError(UsageError):
    """``--jobs`` that is not a whole number of 1 or more."""

    template = "invalid --jobs {jobs}"
    hint_template = "use a whole number, 1 or more"


class InvalidFormatError(UsageError):
    """A report ``--format`` the task does not write."""

    template = "invalid --format {format!r}"
    hint_template = "use one of: {choices}"


class InvalidBuildArgError(UsageError):
    """A ``--build-arg`` that is not NAME=VALUE."""

    template = "invalid --build-arg {value!r}"
    hint_template = "write --build-arg NAME=VALUE (NAME is an identifier)"


class UnusedBuildArgError(UsageError):
    """A ``--build-arg`` that no selected Dockerfile declares."""

    template = "--build-arg {names} is not declared by {images}"
    hint_template = "check the spelling against the ARG lines (`invoke build --dry-run` lists them)"


class InvalidPlatformError(UsageError):
    """A ``--platform`` that is not os/arch[/variant]."""

    template = "invalid platform {platform!r}"
    hint_template = "write os/arch[/variant], e.g. linux/amd64 or linux/arm64"


class UnknownPlatformError(UsageError):
    """A platform written as os/arch[/variant] whose OS, architecture or variant does not exist."""

    template = "unknown platform {platform!r}: {part} {value!r} is not known"
    hint_template = "known {part}s: {choices}"


class MultiPlatformUnsupportedError(UsageError):
    """Several platforms in one build without the containerd image store."""

    template = "{image}: building {platforms} at once needs the containerd image store"
    hint_template = (
        'set {{"features": {{"containerd-snapshotter": true}}}} in /etc/docker/daemon.json '
        "and restart dockerd, or pass one --platform"
    )


class InvalidBuilderError(UsageError):
    """``fleet.builder`` (or ``--builder``) is neither a local mode nor a list of builder names."""

    template = "invalid builder {builder!r} in fleet.builder (from {source})"
    hint_template = (
        "use one of auto, buildx, classic (the local engine), or the names of buildx "
        "builders (see `docker buildx ls`), not both"
    )


class UnknownBuilderError(UsageError):
    """``--builder``/``fleet.builder`` names a buildx builder that does not exist."""

    template = "unknown buildx builder {builder!r}"
    hint_template = "known builders: {known} (create one with `docker buildx create`)"


class UnknownSbomGeneratorError(UsageError):
    """``fleet.sbom_generator`` names an image the fleet does not have (and is no reference)."""

    template = "fleet.sbom_generator {name!r} is no image of this fleet"
    hint_template = (
        "name a fleet image ({known}), give an image reference (HOST[:PORT]/REPO@sha256:…), "
        'or set it to "" for no SBOM attestations'
    )


class DigestsNeedNodesError(UsageError):
    """``build --digests`` on the local engine: digests files hand images pushed by digest
    between CI jobs, which only builds on BuildKit nodes do."""

    template = "--digests {digests} works only with builds on BuildKit nodes"
    hint_template = "add --builder NAME --push --registry R, or drop --digests"


class RegistryNeededError(UsageError):
    """A build on BuildKit nodes without ``--push --registry``: children get their parents
    through the registry, by digest."""

    template = "building on BuildKit nodes ({builders}) needs --push and --registry"
    hint_template = (
        "e.g. invoke build --all --builder {builders} --push --registry HOST[:PORT]/NAMESPACE"
    )


class CacheUnsupportedError(UsageError):
    """``--cache registry`` where the builder cannot export a registry cache."""

    template = "--cache {cache} is not possible here: {reason}"
    hint_template = "{next_step}"


class InvalidSettingError(UsageError):
    """A ``fleet:`` setting of the wrong type, out of range, or naming what does not exist.

    Checked once when a task starts, from ``invoke.yaml`` or its ``INVOKE_FLEET_*`` variable.
    """

    template = "invalid {setting} {value} (from {source}): {reason}"
    hint_template = "{setting} takes {expected}"


class UnknownSettingError(UsageError):
    """A key under ``fleet:`` that is not a setting, with the closest one."""

    template = "unknown setting {setting} (in {source})"
    hint_template = "did you mean {close}?"


class UnknownSettingNoMatchError(UnknownSettingError):
    """A key under ``fleet:`` that is not a setting, and not close to any."""

    hint_template = "the settings there are: {choices}"


class MissingFlagError(UsageError):
    """A task run without a flag it cannot do without."""

    template = "{task} needs {flags}"
    hint_template = "e.g. invoke {task} {usage}"


class InvalidPortError(UsageError):
    """A ``--port`` that is not a TCP port number."""

    template = "invalid --port {port}"
    hint_template = "use a port from 1 to 65535, or --any-port"


class PortConflictError(UsageError):
    """``registry.start --port N --any-port``: two answers to one question."""

    template = "choose one of --port {port} and --any-port"
    hint_template = "--port starts the registry on that port, --any-port on a free one"


class RegistryRunningElsewhereError(UsageError):
    """``registry.start --port`` while the local registry already runs on another port."""

    template = "a local registry already runs on {address}, not on port {port}"
    hint_template = "stop it first (`invoke registry.stop`), then start it on the port you want"


class UnknownSeverityError(UsageError):
    """A severity name trivy does not use."""

    template = "unknown severity {severity!r}"
    hint_template = "use one of {choices} (case does not matter)"


class NotADockerfileError(UsageError):
    """A path to scan that is not a file."""

    template = "{path} is not a file"
    hint_template = "pass the path of a Dockerfile"


class PortInUseError(UsageError):
    """The local registry's port is taken."""

    template = "port {port} on 127.0.0.1 is already in use"
    hint_template = "pick another with --port, or stop what listens there"


class InvalidReleaseNameError(UsageError):
    """A Helm release name outside Helm's rules."""

    template = "invalid release name {release!r}"
    hint_template = "lower-case letters, digits, '-' and '.', at most 53 characters"


class InvalidNamespaceError(UsageError):
    """A Kubernetes namespace that is not a DNS label."""

    template = "invalid namespace {namespace!r}"
    hint_template = "a DNS label: lower-case letters, digits and '-', at most 63"


class MissingValuesFileError(UsageError):
    """A ``--values`` file that does not exist."""

    template = "values file {path} does not exist"
    hint_template = "check the --values path"


class InvalidSetError(UsageError):
    """A ``--set`` that is not KEY=VALUE."""

    template = "invalid --set {item!r}"
    hint_template = "write --set KEY=VALUE (KEY a.b.c)"


class HelmSetError(UsageError):
    """A ``--set`` that helm itself cannot parse."""

    template = "invalid --set: {reason}"
    hint_template = "write --set KEY=VALUE (KEY a.b.c)"


class InvalidTimeoutError(UsageError):
    """A ``--timeout`` that is not a duration."""

    template = "invalid --timeout {timeout!r}"
    hint_template = "use a duration like 90s, 5m"


class MissingNamespaceError(UsageError):
    """A release namespace that does not exist while creating it is turned off."""

    template = "namespace {namespace} does not exist"
    hint_template = "create it, or drop --no-create-namespace"


class NothingToRunError(UsageError):
    """``invoke run``/``shell`` of an image with no local build of the tag asked for."""

    template = "{name} has no local image to run: {missing}"
    hint_template = (
        "build it (`invoke build --image {name}`), name a local build with --tag, or add --pull "
        "to run {remote}"
    )


class InvalidEnvNameError(UsageError):
    """An ``--env`` that is not the name of an environment variable."""

    template = "invalid --env {value!r}"
    hint_template = (
        "pass the variable's name only (--env NAME): its value comes from your environment, "
        "never from the command line"
    )


class TagNotInRegistryError(UsageError):
    """``invoke verify`` of a tag (or digest) the registry does not hold."""

    template = "{reference} is not in the registry"
    hint_template = (
        "check --tag (default: this commit's sha tag, as push makes) and --registry; "
        "`invoke push --image {name}` pushes it"
    )


class OutputPathError(UsageError):
    """A path a task would write to (``--output``, ``--sbom-dir``, ``--junit``, ``--site-dir``)
    that it cannot write to, found before anything runs."""

    template = "invalid {flag} {path}: {reason}"
    hint_template = "{expected}"


class OutputWithoutFormatError(UsageError):
    """``lint --output`` with the text format, which writes no report."""

    template = "--output needs --format json or sarif"
    hint_template = "the text format goes to the terminal; add --format json (or sarif)"


class InvalidDevAddrError(UsageError):
    """A ``docs --dev-addr`` that is not HOST:PORT."""

    template = "invalid --dev-addr {addr!r}"
    hint_template = "write HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8000"


class UnknownRemoteError(UsageError):
    """``release --push --remote`` naming a git remote the checkout does not have."""

    template = "no git remote {remote!r} in this checkout"
    hint_template = "{choices}"


class WorkflowNotFoundError(UsageError):
    """An ``invoke act --workflow`` file that does not exist."""

    template = "workflow {path} does not exist"
    hint_template = "pass a file under .github/workflows/ (`invoke act --list` shows them)"


class _Images(Protocol):
    def image_id(self, ref: str) -> str | None: ...


def require_built(engine: _Images, ref: str, name: str) -> str:
    """The ID of the local image ``ref`` of ``name``; :class:`NotBuiltError` when it is missing."""
    image_id = engine.image_id(ref)
    if image_id is None:
        raise NotBuiltError(name=name, ref=ref)
    return image_id


__all__ = [
    "CacheUnsupportedError",
    "DigestsNeedNodesError",
    "GithubOutputNeedsMatrixError",
    "GithubOutputUnsetError",
    "HelmSetError",
    "InvalidBuildArgError",
    "InvalidBuilderError",
    "InvalidDevAddrError",
    "InvalidEnvNameError",
    "InvalidFormatError",
    "InvalidJobsError",
    "InvalidNamespaceError",
    "InvalidPlatformError",
    "InvalidPortError",
    "InvalidReleaseNameError",
    "InvalidSetError",
    "InvalidSettingError",
    "InvalidTimeoutError",
    "MissingFlagError",
    "MissingNamespaceError",
    "MissingValuesFileError",
    "MultiPlatformUnsupportedError",
    "NoSelectionError",
    "NotADockerfileError",
    "NotBuiltError",
    "NothingToRunError",
    "OutputPathError",
    "OutputWithoutFormatError",
    "PortConflictError",
    "PortInUseError",
    "RegistryNeededError",
    "RegistryRunningElsewhereError",
    "SelectionConflictError",
    "StaleParentError",
    "TagNotInRegistryError",
    "UnknownBuilderError",
    "UnknownImageError",
    "UnknownImageNoMatchError",
    "UnknownPlatformError",
    "UnknownRemoteError",
    "UnknownSbomGeneratorError",
    "UnknownSettingError",
    "UnknownSettingNoMatchError",
    "UnknownSeverityError",
    "UnusedBuildArgError",
    "UsageError",
    "WorkflowNotFoundError",
    "require_built",
]
