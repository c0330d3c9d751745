"""Reading what a push made back from the registry: each tag points at what was pushed, and a
pushed index's every manifest and platform config is there under the digest the index names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import (
    ConfigBlobMissingError,
    PlatformManifestMismatchError,
    PlatformManifestMissingError,
    TagDigestMismatchError,
    TagMissingAfterPushError,
    TagOverwrittenError,
    UnexpectedRegistryAnswerError,
)
from .indexes import INDEX_TYPES, parse_index, read_manifest

if TYPE_CHECKING:
    from .registry import RegistryClient, RemoteManifest


def verify_tag(
    repository: str, tag: str, pushed_digest: str, image_id: str, remote: RemoteManifest | None
) -> RemoteManifest:
    """``remote`` (the tag read back), when it is the manifest Docker pushed of the local image
    ``image_id``; else the error that says how it differs."""
    if remote is None:
        raise TagMissingAfterPushError(reference=f"{repository}:{tag}")
    if remote.digest != pushed_digest:
        raise TagDigestMismatchError(
            reference=f"{repository}:{tag}", remote=remote.digest, pushed=pushed_digest
        )
    # With the classic image store the image ID is the manifest's config digest; with the
    # containerd store it is the manifest (or index) digest itself.
    if image_id not in (remote.digest, remote.config_digest):
        raise TagOverwrittenError(
            reference=f"{repository}:{tag}",
            remote=remote.config_digest or remote.digest,
            image_id=image_id,
        )
    return remote


def check_index(
    client: RegistryClient, path: str, shown: str, digest: str, media_type: str
) -> None:
    """Read the index ``path@digest`` back (``shown``: the reference errors name): every manifest
    it lists must be in the registry under the digest the index gives it, and each platform
    manifest's config blob must be there too. Nothing to do for a single manifest."""
    if media_type.split(";", 1)[0].strip() not in INDEX_TYPES:
        return
    read = read_manifest(client, path, digest)
    if read is None:
        raise PlatformManifestMissingError(reference=shown, platform="the index", digest=digest)
    index = parse_index(read[0])
    for entry in (*index.images, *index.attestations):
        platform = (
            entry.platform if not entry.is_attestation else f"attestation of {entry.platform}"
        )
        found = read_manifest(client, path, entry.digest)
        if found is None:
            raise PlatformManifestMissingError(
                reference=shown, platform=platform, digest=entry.digest
            )
        body, remote, _ = found
        if remote != entry.digest:
            raise PlatformManifestMismatchError(
                reference=shown, platform=platform, remote=remote, digest=entry.digest
            )
        if entry.is_attestation:
            continue  # its config is an empty descriptor or a stand-in, not the image's
        config = str((body.get("config") or {}).get("digest") or "")
        if not config or not _blob_exists(client, path, config):
            raise ConfigBlobMissingError(
                reference=shown, platform=platform, config=config or "(none)"
            )


def _blob_exists(client: RegistryClient, path: str, digest: str) -> bool:
    # A GET, not a HEAD: configs are small, and the client reads JSON blobs already.
    try:
        client.blob_json(path, digest)
    except UnexpectedRegistryAnswerError as exc:
        if exc.fields.get("status") == 404:
            return False
        raise
    return True
