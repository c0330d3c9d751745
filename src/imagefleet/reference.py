"""The OCI/distribution reference grammar: image names, tags, digests and registry targets.

Checked before anything runs, so a bad name fails in milliseconds instead of after a build. The
expressions are those of ``distribution/reference`` (the grammar Docker itself enforces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import (
    ImageNameTooLongError,
    InvalidImageNameError,
    InvalidImageReferenceError,
    InvalidRegistryError,
    InvalidRegistryNamespaceError,
    InvalidTagError,
    RegistryPortError,
    RegistryUrlSchemeError,
    UpperCaseRepositoryError,
)

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
PATH_COMPONENT_RE = re.compile(rf"^{_PATH_COMPONENT}$")
DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
TAG_RE = re.compile(rf"^{_TAG}$")
DIGEST_RE = re.compile(rf"^{_DIGEST}$")
REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
NAME_MAX = 255

DOCKER_HUB = "docker.io"
# Other spellings of Docker Hub's registry host: a reference through any of them is the same image.
DOCKER_HUB_ALIASES = frozenset(
    {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", DOCKER_HUB}
)


def canonical_domain(domain: str | None) -> str:
    """The registry host a reference really names: no domain and Hub aliases mean Docker Hub."""
    if domain is None or domain in DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    return domain


def canonical_path(domain: str | None, path: str) -> str:
    """The repository path as the registry's API spells it: Docker Hub's one-component official
    images live under ``library/`` (``alpine`` is ``library/alpine``)."""
    if canonical_domain(domain) == DOCKER_HUB and "/" not in path:
        return f"library/{path}"
    return path


@dataclass(frozen=True)
class Reference:
    """A parsed image reference, e.g. ``localhost:5000/team/app:1.2@sha256:…``."""

    domain: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """Domain and path, without tag or digest."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_domain(component: str) -> bool:
    # Docker's rule: the first component is a registry host when it has a dot, a port, is
    # localhost, or has upper-case letters (which a path component cannot).
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or (component.lower() != component)
    )


def parse_reference(text: str) -> Reference:
    """Parse ``[domain/]path[:tag][@digest]``, or raise :class:`InvalidReferenceError`."""
    match = REFERENCE_RE.match(text)
    if not match:
        raise InvalidImageReferenceError(reference=text)
    name = match["name"]
    if len(name) > NAME_MAX:
        raise ImageNameTooLongError(name=name[:40], length=len(name), limit=NAME_MAX)
    domain: str | None = None
    path = name
    first, sep, rest = name.partition("/")
    if sep and _looks_like_domain(first):
        domain, path = first, rest
    if not PATH_RE.match(path):
        raise UpperCaseRepositoryError(reference=text, path=path)
    return Reference(domain=domain, path=path, tag=match["tag"], digest=match["digest"])


def split_tag(reference: str) -> tuple[str, str]:
    """``repo[:tag]`` -> (repo, tag), ``latest`` when no tag is written (a digest stays put)."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "latest"
    return repository, tag


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag, else raise with what a tag may contain."""
    if not TAG_RE.match(tag):
        raise InvalidTagError(tag=tag)
    return tag


def validate_image_name(name: str) -> str:
    """Return ``name`` if it can be the last path component of a repository."""
    if len(name) > NAME_MAX or not PATH_RE.match(name) or "/" in name:
        raise InvalidImageNameError(name=name)
    return name


@dataclass(frozen=True)
class Target:
    """Where images are pushed: ``HOST[:PORT]/NAMESPACE``; repository = ``<target>/<image>``."""

    domain: str
    namespace: str

    def repository(self, image: str) -> str:
        """The repository that ``image`` is pushed to."""
        return (
            f"{self.domain}/{self.namespace}/{image}"
            if self.namespace
            else (f"{self.domain}/{image}")
        )

    @property
    def path_prefix(self) -> str:
        """What every repository path under this target starts with, as the registry spells it."""
        return canonical_path(self.domain, f"{self.namespace}/_" if self.namespace else "_")[:-1]

    def __str__(self) -> str:
        return f"{self.domain}/{self.namespace}" if self.namespace else self.domain


def parse_target(text: str) -> Target:
    """Parse a ``--registry`` value: ``HOST[:PORT][/NAMESPACE]``."""
    text = text.strip().rstrip("/")
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            raise RegistryUrlSchemeError(registry=text, example=text.removeprefix(scheme))
    domain, _, namespace = text.partition("/")
    if not domain or not DOMAIN_RE.match(domain) or not _looks_like_domain(domain):
        raise InvalidRegistryError(registry=text)
    host, colon, port = domain.rpartition(":")
    if colon and port.isdigit() and not 1 <= int(port) <= 65535:
        example = f"{host}:5000/{namespace}" if namespace else f"{host}:5000"
        raise RegistryPortError(registry=text, port=port, example=example)
    if namespace and not PATH_RE.match(namespace):
        raise InvalidRegistryNamespaceError(namespace=namespace, registry=text)
    return Target(domain=domain, namespace=namespace)
