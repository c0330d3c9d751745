"""What builds on BuildKit nodes attach to what they push: SLSA provenance (``mode=max``) always,
and an SBOM made by BuildKit's generator protocol, whose scanner is a fleet image or a reference
(``fleet.sbom_generator``; docs/adr/0016)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .errors import UnknownSbomGeneratorError
from .settings import DEFAULTS

PROVENANCE = "type=provenance,mode=max"
# The name the setting has by default: a fleet without such an image simply gets no SBOM.
DEFAULT_GENERATOR: str = DEFAULTS["sbom_generator"]


@dataclass(frozen=True)
class Generator:
    """The SBOM generator of a run: a fleet image (``image``), built first and used by its pushed
    digest, or an image ``reference`` used as it is written."""

    image: str = ""
    reference: str = ""


def generator(setting: str, fleet: Collection[str]) -> Generator | None:
    """The generator ``setting`` (``fleet.sbom_generator``) names among the ``fleet``'s images;
    ``None`` for no SBOM (empty, or the default name when the fleet has no such image). A bare
    name the fleet lacks, set on purpose, is a usage error: a typo must not drop every SBOM."""
    if not setting:
        return None
    if setting in fleet:
        return Generator(image=setting)
    if any(c in setting for c in "/:@"):
        return Generator(reference=setting)
    if setting == DEFAULT_GENERATOR:
        return None
    raise UnknownSbomGeneratorError(name=setting, known=", ".join(sorted(fleet)) or "none")


def attest(sbom_generator: str | None) -> tuple[str, ...]:
    """The bake ``attest`` entries of one node build: provenance, plus the SBOM when a generator
    reference is given (never for the generator image itself, which is built before it exists)."""
    if not sbom_generator:
        return (PROVENANCE,)
    return (PROVENANCE, f"type=sbom,generator={sbom_generator}")
