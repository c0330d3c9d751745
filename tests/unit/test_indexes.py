"""Index parsing: platform manifests apart from BuildKit's attestation manifests."""

from __future__ import annotations

from imagefleet.indexes import (
    DOCKER_LIST,
    OCI_INDEX,
    Descriptor,
    digest_of,
    is_index,
    parse_index,
    platform_of,
)

AMD = "sha256:" + "a" * 64
ARM = "sha256:" + "b" * 64
ATT = "sha256:" + "e" * 64

# The example of moby/buildkit docs/attestations/attestation-storage.md, with a second platform.
INDEX = {
    "mediaType": OCI_INDEX,
    "schemaVersion": 2,
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": AMD,
            "size": 1234,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": ARM,
            "size": 1234,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": ATT,
            "size": 1234,
            "annotations": {
                "vnd.docker.reference.digest": AMD,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "f" * 64,
            "annotations": {"vnd.docker.reference.type": "something-else"},
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
    ],
}


def test_platform_and_attestation_manifests_are_told_apart() -> None:
    index = parse_index(INDEX)
    assert [(d.platform, d.digest) for d in index.images] == [
        ("linux/amd64", AMD),
        ("linux/arm64/v8", ARM),
    ]
    assert [d.digest for d in index.attestations] == [ATT]
    found = index.attestation_for(AMD)
    assert found is not None
    assert found.digest == ATT
    assert index.attestation_for(ARM) is None


def test_an_unknown_platform_without_annotations_counts_as_an_attestation() -> None:
    entry = Descriptor.parse(
        {"digest": ATT, "platform": {"os": "unknown", "architecture": "unknown"}}
    )
    assert entry.is_attestation


def test_indexes_and_manifest_lists_are_indexes_manifests_are_not() -> None:
    assert is_index(INDEX)
    assert is_index({"manifests": []}, DOCKER_LIST)
    assert is_index({"schemaVersion": 2, "manifests": []})
    assert not is_index({"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []})
    assert not is_index({"config": {}}, "application/vnd.docker.distribution.manifest.v2+json")


def test_platform_and_digest_helpers() -> None:
    assert platform_of({"os": "linux", "architecture": "arm", "variant": "v7"}) == "linux/arm/v7"
    assert platform_of({}) == ""
    assert digest_of(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
