"""A registry in memory behind a ``requests.Session``: manifests (by tag and digest) and blobs,
for unit tests of what reads images back; and the documents BuildKit 0.13 pushes (an index with
attestation manifests, SLSA v0.2 provenance, an SPDX statement), shaped as moby/buildkit's
docs/attestations describe them."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from imagefleet.registry import RegistryClient
from tests.helpers import serving

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
DOMAIN = "127.0.0.1:5999"


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry(requests.Session):
    """Serves ``/v2/<path>/manifests/<ref>`` (GET, PUT) and ``/v2/<path>/blobs/<digest>`` from
    dicts: as the session of a :class:`RegistryClient` (:meth:`client`), or over loopback HTTP
    (:func:`served`)."""

    def __init__(self, domain: str = DOMAIN) -> None:
        super().__init__()
        self.domain = domain
        self.manifests: dict[str, tuple[bytes, str]] = {}  # digest -> (body, media type)
        self.tags: dict[str, str] = {}  # tag -> digest
        self.blobs: dict[str, bytes] = {}
        self.requests: list[str] = []

    def client(self) -> RegistryClient:
        return RegistryClient(self.domain, session=self)

    def blob(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Store a JSON blob; its descriptor (without media type)."""
        data = encode(document)
        self.blobs[digest(data)] = data
        return {"digest": digest(data), "size": len(data)}

    def manifest(self, document: Mapping[str, Any], tag: str | None = None) -> dict[str, Any]:
        """Store a manifest (or index); its descriptor."""
        data = encode(document)
        media_type = str(document["mediaType"])
        self.manifests[digest(data)] = (data, media_type)
        if tag:
            self.tags[tag] = digest(data)
        return {"mediaType": media_type, "digest": digest(data), "size": len(data)}

    def answer(
        self, method: str, path: str, data: bytes | None, content_type: str
    ) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) for a request of ``path`` (``/v2/…``)."""
        self.requests.append(f"{method} {path}")
        missing: tuple[int, bytes, dict[str, str]] = (404, b'{"errors": [{"code": "UNKNOWN"}]}', {})
        if path == "/v2/":
            return 200, b"{}", {}
        if "/manifests/" in path:
            reference = path.rsplit("/", 1)[1]
            if method == "PUT" and data is not None:
                self.manifests[digest(data)] = (data, content_type)
                self.tags[reference] = digest(data)
                return 201, b"", {"Docker-Content-Digest": digest(data)}
            found = self.manifests.get(self.tags.get(reference, reference))
            if found is None:
                return missing
            headers = {"Content-Type": found[1], "Docker-Content-Digest": digest(found[0])}
            return 200, found[0], headers
        if "/blobs/" in path:
            blob = self.blobs.get(path.rsplit("/", 1)[1])
            return (200, blob, {}) if blob is not None else missing
        return missing

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: object, **kwargs: Any
    ) -> requests.Response:
        headers = kwargs.get("headers") or {}
        status, body, answer_headers = self.answer(
            method,
            url.split(self.domain, 1)[1],
            kwargs.get("data"),
            headers.get("Content-Type", ""),
        )
        response = requests.Response()
        response.url = url
        response.status_code = status
        response._content = body
        response.headers.update(answer_headers)
        return response


@contextlib.contextmanager
def served() -> Iterator[FakeRegistry]:
    """A :class:`FakeRegistry` answering over HTTP on a free loopback port (its ``domain``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else None
            status, body, headers = fake.answer(
                self.command, self.path, data, self.headers.get("Content-Type", "")
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeRegistry(f"127.0.0.1:{server.server_address[1]}")
    with serving(server):
        yield fake


def image_config(architecture: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "architecture": architecture,
        "os": "linux",
        "config": {"Labels": dict(labels), "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
    }


def provenance_v02(subject: str, architecture: str, args: Mapping[str, str]) -> dict[str, Any]:
    """A SLSA v0.2 statement as BuildKit 0.13 writes for ``mode=max`` (trimmed of LLB)."""
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [
            {
                "name": f"pkg:docker/{DOMAIN}/fx/app@v1?platform=linux%2F{architecture}",
                "digest": {"sha256": subject.removeprefix("sha256:")},
            }
        ],
        "predicate": {
            "builder": {"id": "https://github.com/webgrip/images/actions/runs/1"},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "materials": [
                {
                    "uri": "pkg:docker/alpine@3.22.5?platform=linux%2F" + architecture,
                    "digest": {"sha256": "8" * 64},
                },
                {"uri": "https://example.invalid/tool.tar.gz", "digest": {"sha256": "9" * 64}},
            ],
            "invocation": {
                "configSource": {"entryPoint": "Dockerfile"},
                "parameters": {
                    "frontend": "dockerfile.v0",
                    "args": {
                        **{f"build-arg:{k}": v for k, v in args.items()},
                        "label:org.opencontainers.image.title": "app",
                    },
                    "locals": [{"name": "context"}, {"name": "dockerfile"}],
                },
                "environment": {"platform": "linux/amd64"},
            },
            "buildConfig": {"llbDefinition": [{"id": "step0"}]},
            "metadata": {
                "buildInvocationID": "rpv7a389uzil5lqmrgwhijwjz",
                "buildStartedOn": "2026-11-20T10:00:00.1Z",
                "buildFinishedOn": "2026-11-20T10:01:02.3Z",
                "completeness": {"parameters": True, "environment": True, "materials": False},
                "reproducible": False,
                "https://mobyproject.org/buildkit@v1#metadata": {
                    "vcs": {
                        "source": "https://example.invalid/webgrip/images.git",
                        "revision": "0123456789abcdef0123456789abcdef01234567",
                    }
                },
            },
        },
    }


def spdx(subject: str, packages: int) -> dict[str, Any]:
    """An SPDX statement as an SBOM generator writes it (syft's spdx-json, trimmed)."""
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "_", "digest": {"sha256": subject.removeprefix("sha256:")}}],
        "predicate": {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "/run/src/core/sbom",
            "creationInfo": {"creators": ["Tool: syft-1.18.1"], "created": "2026-11-20T10:01:00Z"},
            "packages": [
                {"name": f"pkg{i}", "SPDXID": f"SPDXRef-Package-{i}", "versionInfo": "1.0"}
                for i in range(packages)
            ],
        },
    }


def push_image(
    registry: FakeRegistry,
    tag: str,
    *,
    architectures: tuple[str, ...] = ("amd64", "arm64"),
    provenance: bool = True,
    sbom_packages: int | None = None,
    args: Mapping[str, str] | None = None,
) -> str:
    """Store an index as BuildKit pushes it: one manifest per architecture, then one attestation
    manifest per platform (when there is provenance or an SBOM). Returns the index digest."""
    images, attestations = [], []
    for arch in architectures:
        labels = {"org.opencontainers.image.revision": "0123456", "arch": arch}
        config = {"mediaType": OCI_CONFIG, **registry.blob(image_config(arch, labels))}
        layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **registry.blob({})}
        manifest = registry.manifest(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        )
        images.append({**manifest, "platform": {"architecture": arch, "os": "linux"}})
        layers = []
        if provenance:
            statement = provenance_v02(manifest["digest"], arch, args or {})
            layers.append(
                {
                    "mediaType": IN_TOTO,
                    **registry.blob(statement),
                    "annotations": {"in-toto.io/predicate-type": statement["predicateType"]},
                }
            )
        if sbom_packages is not None:
            statement = spdx(manifest["digest"], sbom_packages)
            layers.append(
                {
                    "mediaType": IN_TOTO,
                    **registry.blob(statement),
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
                }
            )
        if layers:
            stand_in = {"mediaType": OCI_CONFIG, **registry.blob({"architecture": "unknown"})}
            attestation = registry.manifest(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": stand_in,
                    "layers": layers,
                }
            )
            attestations.append(
                {
                    **attestation,
                    "annotations": {
                        "vnd.docker.reference.digest": manifest["digest"],
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                    "platform": {"architecture": "unknown", "os": "unknown"},
                }
            )
    index = registry.manifest(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*images, *attestations]},
        tag=tag,
    )
    return str(index["digest"])
