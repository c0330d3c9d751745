"""Bad input files, exit 2: image.yml manifests, Dockerfiles and the graph they make, structure-test
configs, charts and kubeconfigs; each names the file (and line) to fix."""

from __future__ import annotations

from .usage import UsageError

# -- usage: 2 ------------------------------------------------------------------------------------


class ManifestError(UsageError):
    """An image's ``image.yml`` or Dockerfile (or its directory) that does not validate."""


class UnreadableImageFileError(ManifestError):
    """An ``image.yml`` or Dockerfile that cannot be read."""

    template = "cannot read {path}: {reason}"
    hint_template = "check the file"


class NotAFileError(ManifestError):
    """An ``image.yml`` or Dockerfile that is a directory (or another non-file)."""

    template = "{path}: is a directory, not a file"
    hint_template = "an image's Dockerfile and image.yml must be regular files"


class NotUtf8Error(ManifestError):
    """An ``image.yml`` or Dockerfile with bytes that are not UTF-8."""

    template = "{path}:{line}: not UTF-8 text (byte {byte} at column {column})"
    hint_template = "save the file as UTF-8"


class ImageWithoutDockerfileError(ManifestError):
    """A directory under ``images/`` with an ``image.yml`` but no Dockerfile."""

    template = "{path}: an image manifest without a Dockerfile beside it"
    hint_template = (
        "add {directory}/Dockerfile (every images/*/ with a Dockerfile is an image), "
        "or remove the directory"
    )


class ManifestDuplicateKeyError(ManifestError):
    """An ``image.yml`` mapping that has one key twice (YAML would keep the last silently)."""

    template = "{where}: duplicate key {key!r} (first on line {first})"
    hint_template = "keep one of the two; YAML would silently use the last"


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


class NotAChartError(UsageError):
    """A chart argument that names something that is not a Helm chart."""

    template = "not a Helm chart: {reason}"
    hint_template = (
        "pass a chart directory (with its Chart.yaml), a packaged .tgz, repo/name or oci://…"
    )


class ChartTemplateError(UsageError):
    """A chart whose templates do not render (helm names the template and line)."""

    template = "the chart does not render: {reason}"
    hint_template = (
        "fix the template or the values named above; nothing was deployed "
        "(`helm template --debug` shows the rendered output)"
    )


class KubeconfigInvalidError(UsageError):
    """A kubeconfig that is not YAML, or not shaped like a kubeconfig."""

    template = "{path}: not a valid kubeconfig: {reason}"
    hint_template = "fix the file (`kubectl config view` reads it the same way), or set KUBECONFIG"


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


class DigestsFileError(UsageError):
    """``invoke promote --digests``: a digests file (or directory) that cannot be used."""


class DigestsMissingError(DigestsFileError):
    """The path given to ``--digests`` does not exist, or a directory without ``*.json``."""

    template = "no digests at {path}"
    hint_template = (
        "pass the file (or directory of *.json files) the build wrote with --digests: "
        '{{"<image>": "sha256:<64 hex>", …}}'
    )


class DigestsFormatError(DigestsFileError):
    """A digests file that is not a JSON object of image names to ``sha256:`` digests."""

    template = "{path}: {problem}"
    hint_template = 'a digests file is a JSON object: {{"<image>": "sha256:<64 hex>", …}}'


__all__ = [
    "ChartNotFoundError",
    "ChartTemplateError",
    "ChartUnresolvedError",
    "ChartYamlError",
    "DependencyCycleError",
    "DigestsFileError",
    "DigestsFormatError",
    "DigestsMissingError",
    "DockerfileEscapeError",
    "DockerfileFromError",
    "DockerfileQuotingError",
    "DuplicateImageNameError",
    "ImageWithoutDockerfileError",
    "InstructionBeforeFromError",
    "InvalidImageDirectoryError",
    "KubeconfigInvalidError",
    "KubernetesSchemaError",
    "ManifestDuplicateKeyError",
    "ManifestError",
    "ManifestFieldError",
    "ManifestFieldsError",
    "ManifestNotMappingError",
    "ManifestUnknownFieldError",
    "ManifestYamlError",
    "MissingChartPathError",
    "MissingReadmeError",
    "NoFromError",
    "NoImagesDirectoryError",
    "NoKubeContextError",
    "NotAChartError",
    "NotAFileError",
    "NotUtf8Error",
    "StructureTestConfigError",
    "StructureTestYamlError",
    "UndeclaredBuildArgsError",
    "UndefinedClusterError",
    "UnknownKubeContextError",
    "UnreadableImageFileError",
]
