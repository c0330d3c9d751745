"""An image's per-platform pushes merged into one index inside the registry: the index BuildKit
would have pushed for all platforms at once, put by its own digest and read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagefleet import merge
from imagefleet.errors import TagMissingAfterPushError
from imagefleet.indexes import OCI_INDEX, digest_of, parse_index
from imagefleet.reference import parse_target
from tests.fakeregistry import (
    DOMAIN,
    OCI_CONFIG,
    OCI_MANIFEST,
    FakeRegistry,
    image_config,
    push_image,
)

TARGET = parse_target(f"{DOMAIN}/fx")


def _body(fake: FakeRegistry, digest: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.manifests[digest][0])
    return body


def test_two_per_platform_indexes_with_attestations_make_one_index() -> None:
    fake = FakeRegistry()
    pushed = [
        push_image(fake, f"one-{arch}", architectures=(arch,), sbom_packages=2)
        for arch in ("amd64", "arm64")
    ]
    fake.requests.clear()
    digest = merge.combine(TARGET, "app", pushed, attempts=1, client=fake.client())

    data, media_type = fake.manifests[digest]
    assert media_type == OCI_INDEX
    assert digest_of(data) == digest
    assert f"PUT /v2/fx/app/manifests/{digest}" in fake.requests  # by digest: no tag moves
    # Exactly what BuildKit pushes for both platforms in one build: platform manifests in
    # platform order, then each one's attestation manifest, descriptors untouched.
    # (push_image writes the same blobs and descriptors in a registry of its own.)
    both = FakeRegistry()
    expected = _body(both, push_image(both, "both", sbom_packages=2))["manifests"]
    index = _body(fake, digest)
    assert index["manifests"] == expected
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    parsed = parse_index(index)
    assert [d.platform for d in parsed.images] == ["linux/amd64", "linux/arm64"]
    for image in parsed.images:
        attestation = parsed.attestation_for(image.digest)
        assert attestation is not None
        assert attestation.platform == "unknown/unknown"
    # Read back after the PUT: every manifest it lists, and each platform's config.
    after = fake.requests[fake.requests.index(f"PUT /v2/fx/app/manifests/{digest}") :]
    assert sum("/manifests/" in r for r in after) >= 1 + 1 + 4
    assert sum("/blobs/" in r for r in after) == 2


def test_two_plain_manifests_get_their_platform_from_their_config() -> None:
    fake = FakeRegistry()
    pushed = []
    for arch in ("amd64", "arm64"):
        config = {"mediaType": OCI_CONFIG, **fake.blob(image_config(arch, {"arch": arch}))}
        layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **fake.blob({})}
        manifest = fake.manifest(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        )
        pushed.append(manifest)
    digest = merge.combine(
        TARGET, "app", [m["digest"] for m in pushed], attempts=1, client=fake.client()
    )
    assert _body(fake, digest)["manifests"] == [
        {**m, "platform": {"architecture": arch, "os": "linux"}}
        for m, arch in zip(pushed, ("amd64", "arm64"), strict=True)
    ]


def test_a_missing_push_is_named() -> None:
    fake = FakeRegistry()
    pushed = [push_image(fake, "amd64", architectures=("amd64",)), "sha256:" + "9" * 64]
    with pytest.raises(TagMissingAfterPushError) as caught:
        merge.combine(TARGET, "app", pushed, attempts=1, client=fake.client())
    assert f"{DOMAIN}/fx/app@sha256:" + "9" * 64 in caught.value.message
    assert not any(r.startswith("PUT") for r in fake.requests)
