"""What ``invoke verify`` reports of a pushed image, read back over the registry API (platforms,
manifest and config digests, labels, provenance, SBOM), and what ``fleet.require`` asks of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from . import attestations
from .errors import PlatformManifestMissingError, RequirementsMissingError, TagNotInRegistryError
from .indexes import Descriptor, is_index, parse_index, platform_of, read_manifest

if TYPE_CHECKING:
    from .reference import Target
    from .registry import RegistryClient

# What fleet.require may name (config.py's schema takes these).
REQUIREMENTS = ("provenance", "sbom", "platforms")
# Variants a platform means without naming them (an index may or may not spell them out).
_DEFAULT_VARIANTS = {"linux/arm64/v8": "linux/arm64", "linux/amd64/v1": "linux/amd64"}


@dataclass(frozen=True)
class PlatformReport:
    """One platform manifest of the image and what is attested about it."""

    platform: str
    digest: str
    config_digest: str
    labels: Mapping[str, str] = field(default_factory=dict)
    provenance: attestations.Provenance | None = None
    sbom: attestations.Sbom | None = None

    def as_dict(self) -> dict[str, Any]:
        """One entry of the report's ``platforms``."""
        return {
            "platform": self.platform,
            "digest": self.digest,
            "config_digest": self.config_digest,
            "labels": dict(self.labels),
            "provenance": self.provenance.as_dict() if self.provenance else None,
            "sbom": self.sbom.as_dict() if self.sbom else None,
        }


@dataclass(frozen=True)
class Report:
    """A pushed image as the registry holds it."""

    image: str
    reference: str  # REGISTRY/NAMESPACE/IMAGE:TAG (or @DIGEST) as asked for
    digest: str  # of the index, or of the one manifest
    media_type: str
    platforms: tuple[PlatformReport, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``invoke verify --json`` (without ``required``/``missing``)."""
        return {
            "image": self.image,
            "reference": self.reference,
            "digest": self.digest,
            "media_type": self.media_type,
            "platforms": [p.as_dict() for p in self.platforms],
        }


def shown_reference(target: Target, image: str, reference: str) -> str:
    """``REPOSITORY:TAG``, or ``REPOSITORY@DIGEST`` for a digest."""
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"{target.repository(image)}{separator}{reference}"


def read(client: RegistryClient, target: Target, image: str, reference: str) -> Report:
    """Read ``target/image:reference`` (a tag or a digest) back with ``client``: the index (or
    single manifest), every platform manifest, its config, and its attestations."""
    path = f"{target.path_prefix}{image}"
    shown = shown_reference(target, image, reference)
    found = read_manifest(client, path, reference)
    if found is None:
        raise TagNotInRegistryError(reference=shown, name=image)
    body, digest, media_type = found
    if not is_index(body, media_type):
        entry = Descriptor(media_type=media_type, digest=digest)
        platforms: tuple[PlatformReport, ...] = (_platform(client, path, shown, entry, None, body),)
    else:
        index = parse_index(body)
        read_one = partial(_platform, client, path, shown)
        platforms = tuple(read_one(e, index.attestation_for(e.digest)) for e in index.images)
    return Report(image, shown, digest, media_type, platforms)


def _platform(
    client: RegistryClient,
    path: str,
    shown: str,
    entry: Descriptor,
    attestation: Descriptor | None,
    body: Mapping[str, Any] | None = None,
) -> PlatformReport:
    if body is None:
        found = read_manifest(client, path, entry.digest)
        if found is None:
            raise PlatformManifestMissingError(
                reference=shown, platform=entry.platform, digest=entry.digest
            )
        body = found[0]
    config_digest = str((body.get("config") or {}).get("digest") or "")
    config = client.blob_json(path, config_digest) if config_digest else {}
    labels = (config.get("config") or {}).get("Labels") or {}
    attested = (
        attestations.read(client, path, attestation) if attestation else attestations.Attestations()
    )
    return PlatformReport(
        platform=entry.platform or platform_of(config),
        digest=entry.digest,
        config_digest=config_digest,
        labels={str(k): str(v) for k, v in labels.items()},
        provenance=attested.provenance,
        sbom=attested.sbom,
    )


def _normal(platform: str) -> str:
    return _DEFAULT_VARIANTS.get(platform, platform)


def missing(report: Report, require: Sequence[str], expected: Sequence[str]) -> list[str]:
    """What of ``require`` the image lacks, one phrase each (``sbom (linux/arm64)``);
    ``expected``: the platforms its manifest (or fleet.platforms) lists."""
    lacking: list[str] = []
    if "provenance" in require:
        without = [p.platform for p in report.platforms if p.provenance is None]
        if without or not report.platforms:
            lacking.append(f"provenance ({', '.join(without) or 'no platform'})")
    if "sbom" in require:
        without = [p.platform for p in report.platforms if p.sbom is None]
        if without or not report.platforms:
            lacking.append(f"sbom ({', '.join(without) or 'no platform'})")
    if "platforms" in require:
        present = {_normal(p.platform) for p in report.platforms}
        absent = [p for p in expected if _normal(p) not in present]
        if absent:
            lacking.append(f"platforms ({', '.join(absent)} not in the index)")
    return lacking


def check(report: Report, require: Sequence[str], expected: Sequence[str]) -> None:
    """Raise :class:`RequirementsMissingError` (exit 6) naming what ``require`` finds missing."""
    lacking = missing(report, require, expected)
    if lacking:
        raise RequirementsMissingError(reference=report.reference, missing="; ".join(lacking))
