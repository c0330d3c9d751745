"""Provenance and SBOM facts from in-toto statements shaped as BuildKit writes them."""

from __future__ import annotations

from typing import Any

from imagefleet import attestations
from imagefleet.indexes import Descriptor, parse_index, read_manifest
from tests.fakeregistry import FakeRegistry, provenance_v02, push_image, spdx

SUBJECT = "sha256:" + "2" * 64

# The mode=max v1 example of moby/buildkit docs/attestations/slsa-provenance.md, with VCS
# metadata and a build argument as BuildKit adds them.
V1: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "predicateType": "https://slsa.dev/provenance/v1",
    "subject": [
        {"name": "pkg:docker/app@v1?platform=linux%2Famd64", "digest": {"sha256": "2" * 64}}
    ],
    "predicate": {
        "buildDefinition": {
            "buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
            "externalParameters": {
                "configSource": {"path": "Dockerfile"},
                "request": {
                    "frontend": "dockerfile.v0",
                    "args": {"build-arg:VERSION": "1.2.3", "target": "release"},
                    "locals": [{"name": "context"}, {"name": "dockerfile"}],
                },
            },
            "internalParameters": {"builderPlatform": "linux/amd64"},
            "resolvedDependencies": [
                {
                    "uri": "pkg:docker/alpine@latest?platform=linux%2Famd64",
                    "digest": {
                        "sha256": "8914eb54f968791faf6a8638949e480fef81e697984fba772b3976835194c6d4"
                    },
                }
            ],
        },
        "runDetails": {
            "builder": {"id": "https://ci.example.invalid/runner"},
            "metadata": {
                "invocationId": "46ue2x93k3xj5l463dektwldw",
                "startedOn": "2022-12-08T11:50:54.953375437Z",
                "finishedOn": "2022-12-08T11:50:55.447841328Z",
                "buildkit_metadata": {
                    "vcs": {"source": "https://example.invalid/org/repo.git", "revision": "abc123"}
                },
            },
        },
    },
}


def test_slsa_v02_provenance_as_buildkit_013_writes_it() -> None:
    found = attestations.provenance(provenance_v02(SUBJECT, "arm64", {"GREETING": "hello"}))
    assert found.predicate_type == attestations.SLSA_V02
    assert found.builder_id == "https://github.com/webgrip/images/actions/runs/1"
    assert found.source == "https://example.invalid/webgrip/images.git"
    assert found.revision == "0123456789abcdef0123456789abcdef01234567"
    # Only build-arg:X are build arguments: labels and the frontend's options are not.
    assert found.build_args == {"GREETING": "hello"}
    # Images among the materials are the base images; an ADDed URL is not one.
    assert [(m.uri, m.digest) for m in found.base_images] == [
        ("pkg:docker/alpine@3.22.5?platform=linux%2Farm64", "sha256:" + "8" * 64)
    ]
    assert found.started == "2026-11-20T10:00:00.1Z"
    assert found.finished == "2026-11-20T10:01:02.3Z"


def test_slsa_v1_provenance() -> None:
    found = attestations.provenance(V1)
    assert found.as_dict() == {
        "predicate_type": "https://slsa.dev/provenance/v1",
        "builder_id": "https://ci.example.invalid/runner",
        "source": "https://example.invalid/org/repo.git",
        "revision": "abc123",
        "build_args": {"VERSION": "1.2.3"},
        "base_images": [
            {
                "uri": "pkg:docker/alpine@latest?platform=linux%2Famd64",
                "digest": "sha256:8914eb54f968791faf6a8638949e480fef81e697984fba772b3976835194c6d4",
            }
        ],
        "started": "2022-12-08T11:50:54.953375437Z",
        "finished": "2022-12-08T11:50:55.447841328Z",
    }


def test_a_remote_config_source_stands_in_for_missing_vcs_metadata() -> None:
    statement = provenance_v02(SUBJECT, "amd64", {})
    predicate = statement["predicate"]
    del predicate["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]
    predicate["invocation"]["configSource"] = {
        "uri": "https://example.invalid/org/repo.git#refs/tags/v0.11.0",
        "digest": {"sha1": "4b220de5058abfd01ff619c9d2ff6b09a049bea0"},
        "entryPoint": "Dockerfile",
    }
    found = attestations.provenance(statement)
    assert found.source == "https://example.invalid/org/repo.git#refs/tags/v0.11.0"
    assert found.revision == "4b220de5058abfd01ff619c9d2ff6b09a049bea0"


def test_min_mode_provenance_has_empty_facts_not_errors() -> None:
    found = attestations.provenance(
        {"predicateType": attestations.SLSA_V02, "predicate": {"builder": {"id": ""}}}
    )
    assert found.as_dict()["build_args"] == {}
    assert found.source == ""
    assert found.as_dict()["source"] is None


def test_spdx_documents_are_counted_together() -> None:
    found = attestations.sbom([spdx(SUBJECT, 3), spdx(SUBJECT, 4)])
    assert found is not None
    assert found.as_dict() == {"format": "SPDX-2.3", "packages": 7, "documents": 2}
    assert attestations.sbom([]) is None


def test_parse_picks_provenance_and_sbom() -> None:
    found = attestations.parse([spdx(SUBJECT, 2), provenance_v02(SUBJECT, "amd64", {})])
    assert found.provenance is not None
    assert found.sbom is not None
    assert found.sbom.packages == 2
    assert attestations.parse([]) == attestations.Attestations()


def test_read_fetches_the_statements_of_an_attestation_manifest() -> None:
    registry = FakeRegistry()
    push_image(registry, "v1", sbom_packages=5, args={"X": "Y"})
    read = read_manifest(registry.client(), "fx/app", "v1")
    assert read is not None
    index = parse_index(read[0])
    attestation = index.attestation_for(index.images[1].digest)
    assert attestation is not None
    found = attestations.read(registry.client(), "fx/app", attestation)
    assert found.provenance is not None
    assert found.provenance.build_args == {"X": "Y"}
    assert found.sbom is not None
    assert found.sbom.packages == 5


def test_read_skips_statements_of_other_predicates_without_fetching_them() -> None:
    registry = FakeRegistry()
    other = registry.blob({"predicateType": "https://example.invalid/other", "predicate": {}})
    manifest = registry.manifest(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", **registry.blob({})},
            "layers": [
                {
                    "mediaType": attestations.IN_TOTO,
                    **other,
                    "annotations": {attestations.PREDICATE_TYPE: "https://example.invalid/other"},
                },
                {"mediaType": "application/octet-stream", **registry.blob({})},
            ],
        }
    )
    found = attestations.read(registry.client(), "fx/app", Descriptor.parse(manifest))
    assert found == attestations.Attestations()
    assert not any(other["digest"] in r for r in registry.requests)
