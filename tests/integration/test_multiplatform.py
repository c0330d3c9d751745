"""A two-platform image built on a real standalone BuildKit node (foreign RUN steps under QEMU)
as one bake target per platform (each with its own registry cache ref), merged in the registry
into one index with provenance and SBOM attestations, the SBOMs made
by the fleet's own generator image (images/sbom-scanner, built first on the node), then read back
by `invoke verify` with every requirement on; a node whose platforms leave one out refuses the
image before anything builds."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from imagefleet import localregistry
from imagefleet.reference import parse_target
from imagefleet.registry import RegistryClient
from tests import buildkit
from tests.buildkit import Nodes
from tests.helpers import FIXTURES, REPO, git, invoke, make_project

pytestmark = pytest.mark.integration

WIDE = ("linux/amd64", "linux/arm64")
SCANNER = "sbom-scanner"
# Platforms a node here is unlikely to emulate; the refusal test takes the first it lacks.
FOREIGN = ("linux/s390x", "linux/ppc64le", "linux/riscv64", "linux/mips64le")


@pytest.fixture
def project(tmp_path: Path, registry: localregistry.LocalRegistry) -> tuple[Path, dict[str, str]]:
    """fx-mp-arch (with both static busyboxes in its context) and the fleet's SBOM generator,
    images/sbom-scanner as it is (the default `fleet.sbom_generator`), committed; returns
    (project, env for the CLI)."""
    buildkit.require_multiplatform_node()
    images = {
        "fx-mp-arch": FIXTURES / "multiarch" / "fx-mp-arch",
        SCANNER: REPO / "images" / SCANNER,
    }
    root = make_project(tmp_path / "project", images)
    for arch in ("amd64", "arm64"):
        found = shutil.which(f"busybox-{arch}")
        assert found is not None
        shutil.copy2(found, root / "images" / "fx-mp-arch" / f"busybox-{arch}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "both busyboxes")
    return root, {"INVOKE_FLEET_REGISTRY": f"{registry.address}/fleet"}


@pytest.fixture
def node(tmp_path: Path, registry: localregistry.LocalRegistry) -> Iterator[Nodes]:
    buildkit.require_multiplatform_node()
    with buildkit.nodes(1, registry.address, parent=tmp_path, prefix="fx-mp") as made:
        yield made


def _build(project: Path, env: dict[str, str], builder: str) -> tuple[Any, Any]:
    result = invoke(
        project,
        *("build", "--image", "fx-mp-arch", "--builder", builder, "--push"),
        *("--registry", env["INVOKE_FLEET_REGISTRY"], "--cache", "registry", "--json"),
        env=env,
        timeout=600,
    )
    return result, json.loads(result.stdout or "[]")


def _json(client: RegistryClient, path: str, digest: str) -> dict[str, Any]:
    found = client.manifest_bytes(path, digest)
    assert found is not None, f"{path}@{digest}"
    body: dict[str, Any] = json.loads(found[0])
    return body


def _blob(client: RegistryClient, path: str, digest: str) -> bytes:
    response = requests.get(f"{client.base}/v2/{path}/blobs/{digest}", timeout=30)
    response.raise_for_status()
    return response.content


def test_a_two_platform_image_is_one_index_with_provenance_and_sbom_per_platform(
    project: tuple[Path, dict[str, str]], node: Nodes
) -> None:
    root, env = project
    client = RegistryClient(parse_target(env["INVOKE_FLEET_REGISTRY"]).domain)
    result, outcomes = _build(root, env, node.name)
    assert result.code == 0, result.output
    by_name = {o["image"]: o for o in outcomes}
    assert by_name["fx-mp-arch"]["status"] == "built"
    assert f"building {SCANNER} first" in result.stderr  # the generator, before the rest
    assert by_name[SCANNER]["status"] == "built"

    # One bake target per platform, each with its own registry cache (one writer per ref).
    listed = requests.get(f"{client.base}/v2/fleet/fx-mp-arch/tags/list", timeout=10).json()
    caches = {t for t in listed["tags"] or () if t.startswith("buildcache-")}
    assert caches == {"buildcache-linux-amd64", "buildcache-linux-arm64"}, listed

    index = _json(client, "fleet/fx-mp-arch", by_name["fx-mp-arch"]["digest"])
    manifests = index["manifests"]
    images = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m
        for m in manifests
        if m["platform"]["os"] != "unknown"
    }
    assert set(images) == set(WIDE)
    attestations = {
        m["annotations"]["vnd.docker.reference.digest"]: m
        for m in manifests
        if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"
    }
    revision = git(root, "rev-parse", "HEAD").strip()
    for platform, image in images.items():
        # Each platform's image, and its config: the arm64 one really is arm64, built under QEMU.
        manifest = _json(client, "fleet/fx-mp-arch", image["digest"])
        config = client.blob_json("fleet/fx-mp-arch", manifest["config"]["digest"])
        assert f"{config['os']}/{config['architecture']}" == platform
        last = _blob(client, "fleet/fx-mp-arch", manifest["layers"][-1]["digest"])
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(last))) as layer:
            handle = layer.extractfile("etc/built-on-arch")
            assert handle is not None
            machine = handle.read().decode().strip()
        assert machine == {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}[platform]

        # Its attestation manifest: SLSA provenance (mode=max, the commit) and the SPDX SBOM.
        attestation = _json(client, "fleet/fx-mp-arch", attestations[image["digest"]]["digest"])
        layers = {
            layer["annotations"]["in-toto.io/predicate-type"]: layer
            for layer in attestation["layers"]
        }
        provenance = [p for p in layers if p.startswith("https://slsa.dev/provenance/")]
        assert provenance, layers
        statement = json.loads(_blob(client, "fleet/fx-mp-arch", layers[provenance[0]]["digest"]))
        predicate = statement["predicate"]
        metadata = predicate["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]
        assert metadata["vcs"]["revision"] == revision
        assert metadata["vcs"]["source"] == "https://example.invalid/org/images.git"
        args = predicate["invocation"]["parameters"]["args"]
        assert args["label:org.opencontainers.image.revision"] == revision
        assert "buildConfig" in predicate  # mode=max: the build's steps are recorded
        assert "https://spdx.dev/Document" in layers, layers
        sbom = json.loads(
            _blob(client, "fleet/fx-mp-arch", layers["https://spdx.dev/Document"]["digest"])
        )
        assert sbom["_type"] == "https://in-toto.io/Statement/v0.1"
        assert sbom["predicate"]["spdxVersion"].startswith("SPDX-")
        # syft (in the generator) recognises the static busybox of each platform's rootfs.
        assert any(p["name"] == "busybox" for p in sbom["predicate"]["packages"]), platform

    # `invoke verify` reads it all back; with every requirement on, nothing is missing.
    verified = invoke(
        root,
        *("verify", "--image", "fx-mp-arch", "--registry", env["INVOKE_FLEET_REGISTRY"], "--json"),
        env={**env, "INVOKE_FLEET_REQUIRE": "provenance,sbom,platforms"},
        timeout=120,
    )
    assert verified.code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["digest"] == by_name["fx-mp-arch"]["digest"]
    assert report["missing"] == []
    assert {p["platform"] for p in report["platforms"]} == set(WIDE)
    for found in report["platforms"]:
        assert found["provenance"]["revision"] == revision
        assert found["sbom"]["packages"] >= 1


def test_a_platform_no_node_lists_is_refused_before_anything_builds(
    project: tuple[Path, dict[str, str]], node: Nodes, registry: localregistry.LocalRegistry
) -> None:
    """BuildKit 0.13.2 adds every platform it can emulate to `[worker.oci] platforms` (measured:
    a node configured for linux/amd64 alone lists linux/arm64 where QEMU is registered), so the
    platform refused here is one the node lists neither way."""
    from imagefleet import buildx

    root, env = project
    client = RegistryClient(registry.address)
    [listed] = buildx.builders()[node.name].nodes
    absent = next((p for p in FOREIGN if p not in listed.platforms), None)
    if absent is None:
        pytest.skip(f"the node emulates every platform tried: {', '.join(listed.platforms)}")
    result = invoke(
        root,
        *("build", "--image", "fx-mp-arch", "--builder", node.name, "--push"),
        *("--registry", env["INVOKE_FLEET_REGISTRY"], "--platform", f"linux/amd64,{absent}"),
        env={**env, "INVOKE_FLEET_SBOM_GENERATOR": ""},
        timeout=600,
    )
    assert result.code == 3, result.output
    assert f"fx-mp-arch: no BuildKit node can build {absent}" in result.stderr
    assert f"{node.name}/{listed.name} linux/amd64" in result.stderr
    assert "binfmt" in result.stderr
    tags = requests.get(f"{client.base}/v2/fleet/fx-mp-arch/tags/list", timeout=10)
    assert tags.status_code == 404  # nothing was built, so nothing was pushed
