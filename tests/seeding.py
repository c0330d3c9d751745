"""Images written straight into a real registry over its HTTP API (blobs, then a manifest), for
tests that need something in a registry without the Docker engine: nothing is left in Docker."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import requests

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"

Auth = tuple[str, str] | None


def blob(url: str, repository: str, data: bytes, *, auth: Auth = None) -> str:
    """Upload ``data`` as a blob of ``repository`` (monolithic: POST, then PUT); its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = requests.post(f"{url}/v2/{repository}/blobs/uploads/", auth=auth, timeout=10)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(f"{url}/", started.headers["Location"])
    done = requests.put(
        location,
        params={"digest": digest},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        auth=auth,
        timeout=60,
    )
    assert done.status_code == 201, done.text
    return digest


def image(
    url: str,
    repository: str,
    config: Mapping[str, Any] | None = None,
    *,
    layers: Sequence[bytes] = (),
    reference: str | None = None,
    auth: Auth = None,
) -> str:
    """An image of ``config`` (default: an empty linux/amd64 one) and gzipped ``layers``, its
    manifest put under ``reference`` (a tag; default: its own digest, no tag); the manifest's
    digest."""
    body = json.dumps(config or {"architecture": "amd64", "os": "linux", "config": {}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": CONFIG_TYPE,
                "digest": blob(url, repository, body, auth=auth),
                "size": len(body),
            },
            "layers": [
                {
                    "mediaType": LAYER_TYPE,
                    "digest": blob(url, repository, data, auth=auth),
                    "size": len(data),
                }
                for data in layers
            ],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    put = requests.put(
        f"{url}/v2/{repository}/manifests/{reference or digest}",
        data=manifest,
        headers={"Content-Type": MANIFEST_TYPE},
        auth=auth,
        timeout=10,
    )
    assert put.status_code == 201, put.text
    return digest
