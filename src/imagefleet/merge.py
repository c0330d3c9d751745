"""One image index made inside the registry from an image's per-platform pushes (each an index of
a platform manifest and its attestation manifest, or a lone manifest), as ``docker buildx
imagetools create`` makes it: descriptors only, nothing pulled or uploaded but the index."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from .errors import TagDigestMismatchError, TagMissingAfterPushError
from .indexes import OCI_INDEX, REFERENCE_TYPE, Descriptor, digest_of, is_index
from .readback import check_index

if TYPE_CHECKING:
    from .reference import Target
    from .registry import RegistryClient

LOGGER = logging.getLogger(__name__)

Descriptors = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def descriptors(client: RegistryClient, path: str, shown: str, digest: str) -> Descriptors:
    """The platform manifest descriptors and attestation manifest descriptors of the push
    ``path@digest`` (``shown``: its repository, for errors), as the registry holds them."""
    found = client.manifest_bytes(path, digest)
    if found is None:
        raise TagMissingAfterPushError(reference=f"{shown}@{digest}")
    data, media_type = found
    body: dict[str, Any] = json.loads(data)
    if is_index(body, media_type):
        images: list[dict[str, Any]] = []
        attestations: list[dict[str, Any]] = []
        for entry in body.get("manifests") or ():
            parsed = Descriptor.parse(entry)
            if parsed.is_attestation:
                attestations.append(entry)
            elif not parsed.annotations.get(REFERENCE_TYPE):
                images.append(entry)
        return images, attestations
    # A lone manifest (no attestations): its platform is its config's.
    config = client.blob_json(path, str((body.get("config") or {}).get("digest") or ""))
    platform = {k: config[k] for k in ("architecture", "os", "variant") if config.get(k)}
    kind = str(body.get("mediaType") or media_type).split(";", 1)[0].strip()
    entry = {"mediaType": kind, "digest": digest_of(data), "size": len(data), "platform": platform}
    return [entry], []


def index_body(parts: Sequence[Descriptors]) -> bytes:
    """The OCI index of ``parts`` (in platform order) as BuildKit lays out a multi-platform
    push: every platform manifest, then every attestation manifest, each as its push gave it
    (the attestations keep ``vnd.docker.reference.digest``: the manifest they attest)."""
    manifests = [m for images, _ in parts for m in images]
    manifests += [a for _, attestations in parts for a in attestations]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return json.dumps(index, separators=(",", ":")).encode()


def combine(
    target: Target,
    image: str,
    pushed: Sequence[str],
    *,
    attempts: int = 5,
    max_wait: float = 8.0,
    client: RegistryClient | None = None,
) -> str:
    """Merge the per-platform pushes ``pushed`` (digests, in platform order) of
    ``target/image`` into one index, put by its own digest, read back with every manifest and
    config it names; return its digest."""
    from .registry import client_for, with_retries

    prefix = target.path_prefix
    if client is None:
        client, prefix = client_for(target)
    path = f"{prefix}{image}"
    shown = target.repository(image)
    retried = partial(with_retries, attempts=attempts, max_wait=max_wait)
    parts = [retried(partial(descriptors, client, path, shown, d)) for d in pushed]
    body = index_body(parts)
    digest = digest_of(body)
    retried(partial(client.put_manifest, path, digest, body, OCI_INDEX))
    remote = retried(partial(client.manifest, path, digest))
    if remote is None:
        raise TagMissingAfterPushError(reference=f"{shown}@{digest}")
    if remote.digest != digest:
        raise TagDigestMismatchError(
            reference=f"{shown}@{digest}", remote=remote.digest, pushed=digest
        )
    retried(partial(check_index, client, path, f"{shown}@{digest}", digest, OCI_INDEX))
    LOGGER.info("merged %d platform pushes of %s into %s", len(pushed), shown, digest)
    return digest
