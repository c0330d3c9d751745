"""What node builds attach: provenance always, the SBOM by a fleet image or a reference."""

from __future__ import annotations

import pytest

from imagefleet.errors import ExitCode, UnknownSbomGeneratorError
from imagefleet.supplychain import PROVENANCE, Generator, attest, generator

FLEET = ("sbom-scanner", "helm-deploy")


@pytest.mark.parametrize(
    ("setting", "fleet", "expected"),
    [
        ("sbom-scanner", FLEET, Generator(image="sbom-scanner")),
        ("helm-deploy", FLEET, Generator(image="helm-deploy")),
        ("localhost:5000/tools/scanner@sha256:" + "a" * 64, FLEET, None),
        ("registry.example.com/scanner:1", FLEET, None),
        ("", FLEET, None),  # off
        ("sbom-scanner", ("helm-deploy",), None),  # the default, absent: no SBOM (a note says so)
    ],
)
def test_the_setting_names_a_fleet_image_a_reference_or_nothing(
    setting: str, fleet: tuple[str, ...], expected: Generator | None
) -> None:
    if expected is None and "/" in setting:
        expected = Generator(reference=setting)
    assert generator(setting, fleet) == expected


def test_a_name_set_on_purpose_that_the_fleet_lacks_is_a_usage_error() -> None:
    with pytest.raises(UnknownSbomGeneratorError) as caught:
        generator("sbom-scaner", FLEET)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "'sbom-scaner'" in caught.value.message
    assert "helm-deploy, sbom-scanner" in caught.value.hint


def test_provenance_is_always_attached_the_sbom_with_a_generator() -> None:
    assert PROVENANCE == "type=provenance,mode=max"
    assert attest(None) == (PROVENANCE,)
    assert attest("r/s@sha256:1") == (PROVENANCE, "type=sbom,generator=r/s@sha256:1")
