"""Image indexes (OCI index, Docker manifest list) as the registry holds them: their platform
manifests and the attestation manifests beside them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import RegistryClient

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
# BuildKit's attestation storage: docs/attestations/attestation-storage.md in moby/buildkit.
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"


def digest_of(data: bytes) -> str:
    """The ``sha256:…`` digest of ``data`` (what a registry names a manifest by)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_of(spec: Mapping[str, Any]) -> str:
    """``os/architecture[/variant]`` of a descriptor's ``platform`` or an image config."""
    return "/".join(str(spec[k]) for k in ("os", "architecture", "variant") if spec.get(k))


@dataclass(frozen=True)
class Descriptor:
    """One entry of an index's ``manifests`` (or a manifest's ``layers``)."""

    media_type: str
    digest: str
    size: int = 0
    platform: str = ""  # os/arch[/variant]; empty when the descriptor names none
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Descriptor:
        """A descriptor from its JSON object."""
        annotations = data.get("annotations") or {}
        return cls(
            media_type=str(data.get("mediaType") or ""),
            digest=str(data.get("digest") or ""),
            size=int(data.get("size") or 0),
            platform=platform_of(data.get("platform") or {}),
            annotations={str(k): str(v) for k, v in annotations.items()},
        )

    @property
    def is_attestation(self) -> bool:
        """Whether this is an attestation manifest (BuildKit marks them ``unknown/unknown``)."""
        if REFERENCE_TYPE in self.annotations:
            return self.annotations[REFERENCE_TYPE] == ATTESTATION_MANIFEST
        return self.platform == "unknown/unknown"


@dataclass(frozen=True)
class Index:
    """An index's runnable platform manifests and the attestation manifests beside them."""

    images: tuple[Descriptor, ...]
    attestations: tuple[Descriptor, ...]

    def attestation_for(self, digest: str) -> Descriptor | None:
        """The attestation manifest that attests the platform manifest ``digest``, if any."""
        return next(
            (a for a in self.attestations if a.annotations.get(REFERENCE_DIGEST) == digest), None
        )


def is_index(body: Mapping[str, Any], media_type: str = "") -> bool:
    """Whether a manifest body (with the media type the registry answered) is an index."""
    kind = str(body.get("mediaType") or media_type).split(";", 1)[0].strip()
    return kind in INDEX_TYPES or (not kind and "manifests" in body)


def parse_index(body: Mapping[str, Any]) -> Index:
    """The descriptors of an index body, split into platform and attestation manifests.

    A descriptor of another ``vnd.docker.reference.type`` than an attestation manifest is
    neither (the storage spec says to ignore it)."""
    images: list[Descriptor] = []
    attestations: list[Descriptor] = []
    for entry in body.get("manifests") or ():
        found = Descriptor.parse(entry)
        kind = found.annotations.get(REFERENCE_TYPE)
        if found.is_attestation:
            attestations.append(found)
        elif kind is None:
            images.append(found)
    return Index(tuple(images), tuple(attestations))


def read_manifest(
    client: RegistryClient, path: str, reference: str
) -> tuple[dict[str, Any], str, str] | None:
    """The manifest ``path:reference`` as (body, digest of its bytes, media type), or ``None``."""
    found = client.manifest_bytes(path, reference)
    if found is None:
        return None
    data, media_type = found
    body: dict[str, Any] = json.loads(data)
    return body, digest_of(data), str(body.get("mediaType") or media_type)
