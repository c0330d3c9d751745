"""What BuildKit attests about a pushed image: the in-toto statements of an attestation manifest
(SLSA provenance v0.2 and v1, SPDX SBOMs), read from the registry and reduced to their facts.

Layouts as BuildKit writes them (moby/buildkit ``docs/attestations/``): an attestation manifest's
``layers`` are ``application/vnd.in-toto+json`` blobs whose ``in-toto.io/predicate-type``
annotation names the predicate; each blob is a whole statement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .indexes import Descriptor, read_manifest

if TYPE_CHECKING:
    from .registry import RegistryClient

LOGGER = logging.getLogger(__name__)

IN_TOTO = "application/vnd.in-toto+json"
PREDICATE_TYPE = "in-toto.io/predicate-type"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SPDX = "https://spdx.dev/Document"
PROVENANCE_TYPES = frozenset({SLSA_V02, SLSA_V1})
# BuildKit's own metadata in v0.2 predicates (vcs, source maps, layers).
BUILDKIT_METADATA = "https://mobyproject.org/buildkit@v1#metadata"
BUILD_ARG = "build-arg:"
# Materials that are images (BuildKit writes them as package URLs).
IMAGE_URIS = ("pkg:docker/", "pkg:oci/")


@dataclass(frozen=True)
class Material:
    """A resolved dependency of the build: its URI and digest (``sha256:…``)."""

    uri: str
    digest: str


@dataclass(frozen=True)
class Provenance:
    """The facts of one SLSA provenance statement."""

    predicate_type: str
    builder_id: str = ""
    source: str = ""  # repository URL: vcs:source, else the remote config source
    revision: str = ""  # vcs:revision, else the config source's commit
    build_args: Mapping[str, str] = field(default_factory=dict)  # build-arg:X -> X
    base_images: tuple[Material, ...] = ()
    started: str = ""
    finished: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape ``invoke verify --json`` prints."""
        return {
            "predicate_type": self.predicate_type,
            "builder_id": self.builder_id,
            "source": self.source or None,
            "revision": self.revision or None,
            "build_args": dict(self.build_args),
            "base_images": [{"uri": m.uri, "digest": m.digest} for m in self.base_images],
            "started": self.started or None,
            "finished": self.finished or None,
        }


@dataclass(frozen=True)
class Sbom:
    """The SPDX documents attested for one platform."""

    format: str  # spdxVersion, e.g. SPDX-2.3
    packages: int  # across every document
    documents: int = 1

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape ``invoke verify --json`` prints."""
        return {"format": self.format, "packages": self.packages, "documents": self.documents}


@dataclass(frozen=True)
class Attestations:
    """What the attestation manifest of one platform manifest holds."""

    provenance: Provenance | None = None
    sbom: Sbom | None = None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _materials(entries: object) -> tuple[Material, ...]:
    """The images among materials (v0.2) or resolved dependencies (v1)."""
    found = []
    for entry in entries if isinstance(entries, list) else ():
        item = _mapping(entry)
        uri = _text(item.get("uri"))
        if not uri.startswith(IMAGE_URIS):
            continue
        digests = _mapping(item.get("digest"))
        algorithm = "sha256" if "sha256" in digests else next(iter(digests), "")
        digest = f"{algorithm}:{digests[algorithm]}" if algorithm else ""
        found.append(Material(uri, digest))
    return tuple(found)


def _build_args(args: object) -> dict[str, str]:
    return {
        key.removeprefix(BUILD_ARG): str(value)
        for key, value in _mapping(args).items()
        if key.startswith(BUILD_ARG)
    }


def _config_revision(source: Mapping[str, Any]) -> str:
    digests = _mapping(source.get("digest"))
    return _text(digests.get("sha1") or digests.get("sha256"))


def provenance(statement: Mapping[str, Any]) -> Provenance:
    """The facts of a SLSA provenance statement, v0.2 (BuildKit 0.13's default) or v1: the same
    facts under other keys."""
    kind = _text(statement.get("predicateType"))
    predicate = _mapping(statement.get("predicate"))
    if kind == SLSA_V1:
        definition = _mapping(predicate.get("buildDefinition"))
        external = _mapping(definition.get("externalParameters"))
        run = _mapping(predicate.get("runDetails"))
        metadata = _mapping(run.get("metadata"))
        return _facts(
            kind,
            builder=run.get("builder"),
            buildkit=metadata.get("buildkit_metadata"),
            config=external.get("configSource"),
            args=_mapping(external.get("request")).get("args"),
            materials=definition.get("resolvedDependencies"),
            started=metadata.get("startedOn"),
            finished=metadata.get("finishedOn"),
        )
    invocation = _mapping(predicate.get("invocation"))
    metadata = _mapping(predicate.get("metadata"))
    return _facts(
        kind,
        builder=predicate.get("builder"),
        buildkit=metadata.get(BUILDKIT_METADATA),
        config=invocation.get("configSource"),
        args=_mapping(invocation.get("parameters")).get("args"),
        materials=predicate.get("materials"),
        started=metadata.get("buildStartedOn"),
        finished=metadata.get("buildFinishedOn"),
    )


def _facts(
    kind: str,
    *,
    builder: object,
    buildkit: object,
    config: object,
    args: object,
    materials: object,
    started: object,
    finished: object,
) -> Provenance:
    """A :class:`Provenance` from the parts both versions have: the source and revision come
    from BuildKit's VCS metadata, else from the remote config source."""
    vcs = _mapping(_mapping(buildkit).get("vcs"))
    source = _mapping(config)
    return Provenance(
        predicate_type=kind,
        builder_id=_text(_mapping(builder).get("id")),
        source=_text(vcs.get("source")) or _text(source.get("uri")),
        revision=_text(vcs.get("revision")) or _config_revision(source),
        build_args=_build_args(args),
        base_images=_materials(materials),
        started=_text(started),
        finished=_text(finished),
    )


def sbom(statements: Sequence[Mapping[str, Any]]) -> Sbom | None:
    """The SPDX documents of ``statements`` (BuildKit may attest one per scanned stage) as one
    SBOM; ``None`` when there is none."""
    documents = [_mapping(s.get("predicate")) for s in statements]
    if not documents:
        return None
    versions = sorted({_text(d.get("spdxVersion")) or "SPDX" for d in documents})
    packages = sum(len(d.get("packages") or ()) for d in documents)
    return Sbom(format=", ".join(versions), packages=packages, documents=len(documents))


def parse(statements: Sequence[Mapping[str, Any]]) -> Attestations:
    """Provenance (the first statement of a SLSA type) and SBOM (every SPDX statement)."""
    kinds = [_text(s.get("predicateType")) for s in statements]
    slsa = next((s for s, k in zip(statements, kinds, strict=True) if k in PROVENANCE_TYPES), None)
    spdx = [s for s, k in zip(statements, kinds, strict=True) if k == SPDX]
    return Attestations(
        provenance=provenance(slsa) if slsa is not None else None,
        sbom=sbom(spdx),
    )


def read(client: RegistryClient, path: str, manifest: Descriptor) -> Attestations:
    """Read the attestation manifest ``manifest`` of ``path`` and the statements it holds (only
    those of a type this module reads: the annotation says so without fetching the rest)."""
    found = read_manifest(client, path, manifest.digest)
    if found is None:
        LOGGER.warning("%s: attestation manifest %s is missing", path, manifest.digest)
        return Attestations()
    statements: list[Mapping[str, Any]] = []
    for entry in found[0].get("layers") or ():
        layer = Descriptor.parse(entry)
        if layer.media_type != IN_TOTO:
            continue  # the storage spec: ignore media types it does not know
        kind = layer.annotations.get(PREDICATE_TYPE)
        if kind is not None and kind not in PROVENANCE_TYPES and kind != SPDX:
            continue
        statements.append(client.blob_json(path, layer.digest))
    return parse(statements)
