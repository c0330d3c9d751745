"""Image names, tags and registries that break the OCI reference grammar, exit 2: refused before
anything changes."""

from __future__ import annotations

from .usage import UsageError


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


class InvalidRegistrySettingError(InvalidReferenceError):
    """``fleet.registry`` or one of ``fleet.registry_aliases`` that is not HOST[:PORT]/NAMESPACE."""

    template = "invalid {setting} {value} (from {source}): {reason}"
    hint_template = (
        "write it as HOST[:PORT]/NAMESPACE, e.g. localhost:5000/team or docker.io/webgrip"
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


class RegistryPortError(InvalidReferenceError):
    """A registry whose port is not a TCP port number."""

    template = "invalid registry {registry!r}: port {port} is not from 1 to 65535"
    hint_template = "write it as HOST[:PORT]/NAMESPACE with a port from 1 to 65535, e.g. {example}"


class InvalidRegistryNamespaceError(InvalidReferenceError):
    """A registry namespace with characters a repository path cannot have."""

    template = "invalid registry namespace {namespace!r} in {registry!r}"
    hint_template = "namespaces are lower-case path components separated by '/'"


__all__ = [
    "ImageNameTooLongError",
    "InvalidImageNameError",
    "InvalidImageReferenceError",
    "InvalidReferenceError",
    "InvalidRegistryError",
    "InvalidRegistryNamespaceError",
    "InvalidRegistrySettingError",
    "InvalidTagError",
    "RegistryPortError",
    "RegistryUrlSchemeError",
    "UpperCaseRepositoryError",
]
