"""Reading a push back: tags, and every platform manifest and config of a pushed index."""

from __future__ import annotations

import json

import pytest

from imagefleet import registry
from imagefleet.errors import (
    ConfigBlobMissingError,
    DigestMismatchError,
    PlatformManifestMismatchError,
    PlatformManifestMissingError,
    TagDigestMismatchError,
    TagMissingAfterPushError,
    TagOverwrittenError,
)
from imagefleet.indexes import OCI_INDEX, parse_index
from imagefleet.readback import check_index, verify_tag
from imagefleet.reference import parse_target
from imagefleet.registry import RemoteManifest
from imagefleet.tags import TagSet
from tests.fakeregistry import FakeRegistry, push_image

PATH = "fx/app"


def _index(fake: FakeRegistry, digest: str) -> dict[str, object]:
    body = json.loads(fake.manifests[digest][0])
    assert isinstance(body, dict)
    return body


def test_a_whole_index_reads_back() -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "v1", sbom_packages=2)
    check_index(fake.client(), PATH, "r/app:v1", digest, OCI_INDEX)
    gets = [r for r in fake.requests if "/manifests/" in r]
    assert len(gets) == 1 + 2 + 2  # the index, two platforms, two attestation manifests
    assert sum("/blobs/" in r for r in fake.requests) == 2  # one config per platform


def test_a_single_manifest_needs_no_more_requests() -> None:
    fake = FakeRegistry()
    check_index(
        fake.client(),
        PATH,
        "r/app:v1",
        "sha256:" + "0" * 64,
        "application/vnd.oci.image.manifest.v1+json",
    )
    assert fake.requests == []


def test_a_missing_platform_manifest_is_named() -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "v1")
    arm = parse_index(_index(fake, digest)).images[1]
    del fake.manifests[arm.digest]
    with pytest.raises(PlatformManifestMissingError) as raised:
        check_index(fake.client(), PATH, "r/app:v1", digest, OCI_INDEX)
    assert raised.value.message == (
        f"r/app:v1: the index lists linux/arm64 as {arm.digest}, which the registry lacks"
    )
    assert raised.value.exit_code == 6


def test_a_platform_manifest_with_another_digest_is_a_mismatch() -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "v1")
    amd = parse_index(_index(fake, digest)).images[0]
    body, kind = fake.manifests[amd.digest]
    fake.manifests[amd.digest] = (body + b"\n", kind)  # served under the old digest
    with pytest.raises(PlatformManifestMismatchError) as raised:
        check_index(fake.client(), PATH, "r/app:v1", digest, OCI_INDEX)
    assert "linux/amd64 reads back as sha256:" in raised.value.message
    assert raised.value.fields["digest"] == amd.digest


def test_a_missing_config_blob_is_named() -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "v1")
    arm = parse_index(_index(fake, digest)).images[1]
    config = json.loads(fake.manifests[arm.digest][0])["config"]["digest"]
    del fake.blobs[config]
    with pytest.raises(ConfigBlobMissingError) as raised:
        check_index(fake.client(), PATH, "r/app:v1", digest, OCI_INDEX)
    assert raised.value.message == (
        f"r/app:v1: the config {config} of linux/arm64 is missing from the registry"
    )


def test_verify_tag_errors() -> None:
    remote = RemoteManifest("sha256:1", "application/vnd.oci.image.manifest.v1+json", "sha256:c")
    assert verify_tag("r/app", "v1", "sha256:1", "sha256:c", remote) is remote
    with pytest.raises(TagMissingAfterPushError):
        verify_tag("r/app", "v1", "sha256:1", "sha256:c", None)
    with pytest.raises(TagDigestMismatchError):
        verify_tag("r/app", "v1", "sha256:2", "sha256:c", remote)
    with pytest.raises(TagOverwrittenError):
        verify_tag("r/app", "v1", "sha256:1", "sha256:other", remote)


def test_retag_reads_every_platform_of_an_index_back(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "staged")
    monkeypatch.setattr(registry, "client_for", lambda target: (fake.client(), "fx/"))
    target = parse_target("127.0.0.1:5999/fx")
    pushed = registry.retag(
        target, "app", digest, TagSet("abc", ("abc",)), attempts=1, max_wait=0.01
    )
    assert [t.digest for t in pushed] == [digest]
    assert fake.tags["abc"] == digest
    manifest_reads = [r for r in fake.requests if r.startswith("GET") and "/manifests/sha256:" in r]
    assert len(manifest_reads) >= 1 + 2 + 2


def test_retag_of_an_index_missing_a_config_moves_no_latest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "staged", provenance=False)
    amd = parse_index(_index(fake, digest)).images[0]
    del fake.blobs[json.loads(fake.manifests[amd.digest][0])["config"]["digest"]]
    monkeypatch.setattr(registry, "client_for", lambda target: (fake.client(), "fx/"))
    target = parse_target("127.0.0.1:5999/fx")
    with pytest.raises(DigestMismatchError):
        registry.retag(
            target, "app", digest, TagSet("abc", ("abc", "latest")), attempts=1, max_wait=0.01
        )
    assert "latest" not in fake.tags
