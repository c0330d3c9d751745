"""Discover ``images/*/`` and read each ``image.yml`` into frozen, validated :class:`Image` records.

Every directory under ``images/`` that has a ``Dockerfile`` is an image; the manifest is optional
and only overrides. A malformed manifest is rejected with its file, line and what was expected.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from . import checked, dockerfile, textfile
from .errors import (
    DuplicateImageNameError,
    ImageWithoutDockerfileError,
    InvalidImageDirectoryError,
    InvalidReferenceError,
    ManifestDuplicateKeyError,
    ManifestFieldError,
    ManifestFieldsError,
    ManifestNotMappingError,
    ManifestUnknownFieldError,
    ManifestYamlError,
    NoImagesDirectoryError,
    NotAFileError,
    UndeclaredBuildArgsError,
    UnknownImageError,
    UnknownImageNoMatchError,
)
from .reference import validate_image_name
from .secrets import Secret

MANIFEST = "image.yml"
# libyaml's safe loader when PyYAML was built with it (several times faster), else pure Python.
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping with one key twice: PyYAML alone would keep the last value without a word."""

    def __init__(self, key: object, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", second)
        self.key = key
        self.first_line = first.line + 1


class _StrictLoader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, refusing duplicate keys (merge keys ``<<`` may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base constructor refuses it itself
                continue
            if first is not key_node.start_mark:
                raise _DuplicateKey(key, first, key_node.start_mark)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_LOADER: type[yaml.SafeLoader] = _StrictLoader
DOCKERFILE = "Dockerfile"
STRUCTURE_TESTS = Path("tests") / "structure.yaml"  # container-structure-test config
README = "README.md"  # the human part of the image's docs page

# The semver.org expression, as published with the specification.
SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")
ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A named context is what `COPY --from=<name>` says: a short lower-case word, never a reference.
CONTEXT_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
EXECUTABLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class Link:
    """A documentation link shown on the image's page and in Backstage."""

    url: str
    title: str


@dataclass(frozen=True)
class LocalContext:
    """A named build context the tool stages from the host (``COPY --from=<name>`` reads it)."""

    # executable name (looked up on PATH) -> the package that provides it, named in errors
    executables: dict[str, str]


Lifecycle = Literal["experimental", "production", "deprecated"]


@dataclass(frozen=True)
class Manifest:
    """What ``images/<name>/image.yml`` says; every field is optional. :mod:`imagefleet.schema`
    checks a manifest and makes this record."""

    name: str | None = None
    description: str = ""
    owner: str | None = None
    lifecycle: Lifecycle = "production"
    version: str | None = None
    platforms: tuple[str, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    docs: tuple[Link, ...] = ()
    runs_as_root: str | None = None  # why this image must run as root (the policy asks)
    contexts: dict[str, LocalContext] = field(default_factory=dict)
    # BuildKit secrets the build may mount: id -> the variable its value is read from.
    secrets: dict[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    """One image of the repository: its directory, manifest and parsed Dockerfile."""

    name: str
    directory: Path
    manifest: Manifest
    dockerfile: dockerfile.Dockerfile

    @property
    def dockerfile_path(self) -> Path:
        """The image's Dockerfile."""
        return self.directory / DOCKERFILE

    @property
    def structure_tests(self) -> Path:
        """The image's container-structure-test config (it may not exist yet)."""
        return self.directory / STRUCTURE_TESTS

    @property
    def pytest_files(self) -> tuple[Path, ...]:
        """The image's own pytest files (``tests/test_*.py``), sorted."""
        return tuple(sorted((self.directory / "tests").glob("test_*.py")))

    @property
    def readme(self) -> Path:
        """The human part of the image's docs page (it may not exist yet)."""
        return self.directory / README

    @property
    def version(self) -> str | None:
        """The manifest's semantic version, if any."""
        return self.manifest.version

    @property
    def description(self) -> str:
        """The manifest's description, else the Dockerfile's description label."""
        return self.manifest.description or self.dockerfile.final.labels.get(
            "org.opencontainers.image.description", ""
        )

    def build_args(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """Effective build args: Dockerfile ``ARG`` defaults < manifest < ``overrides``.

        Defaults that refer to other ARGs (``ARG REF=${BASE}:${VERSION}``) are expanded the way
        the builder expands them, in declaration order.
        """
        passed = {**self.manifest.build_args, **(overrides or {})}
        scope: dict[str, str] = {}
        for name, default in self.dockerfile.arg_defaults().items():
            if name in passed:
                scope[name] = passed[name]
            elif default is not None:
                scope[name] = dockerfile.substitute(default, scope)
        return scope

    def base_image(self, overrides: dict[str, str] | None = None) -> str:
        """The external base image of the final stage, with manifest args < ``overrides``."""
        return self.dockerfile.base_image({**self.manifest.build_args, **(overrides or {})})


def _node_line(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """Line (1-based) of the YAML node at ``loc``, or of the deepest ancestor that exists."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for index, key in enumerate(loc):
        if key == "[key]":  # the key itself is wrong: its line is where it was found
            break
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None or tuple(loc[index + 1 : index + 2]) == ("[key]",):
                # a key that is not allowed, or whose name is invalid: point at the key itself
                match = next((k for k, _ in node.value if k.value == key), None)
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def load_manifest(path: Path) -> Manifest:
    """Read and check one manifest; errors name the file, the line and what was expected. A
    manifest checked before (the same bytes, see :mod:`imagefleet.checked`) is not again."""
    text = textfile.read(path)
    raw = text.encode()
    records = checked.records()
    known = records.get("image.yml", raw, Manifest)
    if known is not None:
        return known
    try:
        data: Any = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader (C or Python)
    except _DuplicateKey as exc:
        where = f"{path}:{exc.problem_mark.line + 1}" if exc.problem_mark else str(path)
        raise ManifestDuplicateKeyError(where=where, key=exc.key, first=exc.first_line) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestYamlError(where=where, problem=problem) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManifestNotMappingError(path=path, kind=type(data).__name__)
    from . import schema  # pydantic: only for a manifest not checked before

    try:
        manifest = schema.manifest(data)
    except schema.ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field_name = ".".join(str(p) for p in loc if p != "[key]") or "(top level)"
        # Only a failing manifest needs the node tree (for line numbers): compose it then.
        lineno = _node_line(yaml.compose(text, Loader=_LOADER), loc)
        where = f"{path}:{lineno}" if lineno else str(path)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(f.name for f in fields(Manifest))
            raise ManifestUnknownFieldError(where=where, field=field_name, allowed=allowed) from exc
        if len(exc.errors()) > 1:
            raise ManifestFieldsError(
                where=where, field=field_name, problem=message, more=len(exc.errors()) - 1
            ) from exc
        raise ManifestFieldError(where=where, field=field_name, problem=message) from exc
    records.put("image.yml", raw, manifest)
    return manifest


def load_image(directory: Path) -> Image:
    """Read one image directory (which must contain a Dockerfile)."""
    manifest_path = directory / MANIFEST
    manifest = load_manifest(manifest_path) if manifest_path.exists() else Manifest()
    name = manifest.name or directory.name
    try:
        validate_image_name(name)
    except InvalidReferenceError as exc:
        raise InvalidImageDirectoryError(directory=directory, reason=exc) from exc
    parsed = dockerfile.parse(directory / DOCKERFILE)
    unknown = set(manifest.build_args) - set(parsed.arg_defaults())
    if unknown:
        raise UndeclaredBuildArgsError(path=manifest_path, names=sorted(unknown))
    return Image(name=name, directory=directory, manifest=manifest, dockerfile=parsed)


@dataclass(frozen=True)
class Catalog:
    """All images of the repository, by name."""

    root: Path
    images: tuple[Image, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Image names in directory order."""
        return tuple(image.name for image in self.images)

    @functools.cached_property
    def _by_name(self) -> dict[str, Image]:
        return {image.name: image for image in self.images}

    def get(self, name: str) -> Image:
        """The image called ``name``; unknown names suggest the closest ones."""
        if (image := self._by_name.get(name)) is not None:
            return image
        close = difflib.get_close_matches(name, self.names, n=3, cutoff=0.5)
        if close:
            raise UnknownImageError(name=name, close=" or ".join(close))
        raise UnknownImageNoMatchError(name=name)

    def select(self, names: Iterable[str], *, all_images: bool = False) -> tuple[Image, ...]:
        """Images named on the command line (deduplicated, in the order given), or all of them."""
        if all_images:
            return self.images
        chosen: list[Image] = []
        for name in names:
            image = self.get(name)
            if image not in chosen:
                chosen.append(image)
        return tuple(chosen)


def image_directories(images_dir: Path) -> list[Path]:
    """Every directory under ``images_dir`` with a Dockerfile, sorted: the list of images.

    A directory that looks meant as an image but is not one (an ``image.yml`` without a
    Dockerfile, a ``Dockerfile`` that is a directory) is refused rather than silently left out.
    """
    if not images_dir.is_dir():
        raise NoImagesDirectoryError(path=images_dir)
    found = []
    for directory in sorted(d for d in images_dir.iterdir() if d.is_dir()):
        dockerfile_path = directory / DOCKERFILE
        if dockerfile_path.is_file():
            found.append(directory)
        elif dockerfile_path.exists():
            raise NotAFileError(path=dockerfile_path)
        elif (directory / MANIFEST).exists():
            raise ImageWithoutDockerfileError(path=directory / MANIFEST, directory=directory)
    return found


def discover(images_dir: Path) -> Catalog:
    """Every ``images_dir/*/`` with a Dockerfile, sorted by directory name."""
    images = tuple(load_image(d) for d in image_directories(images_dir))
    seen: dict[str, Path] = {}
    for image in images:
        if image.name in seen:
            raise DuplicateImageNameError(
                name=image.name, first=seen[image.name], second=image.directory
            )
        seen[image.name] = image.directory
    return Catalog(root=images_dir, images=images)
