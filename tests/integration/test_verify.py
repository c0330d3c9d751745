"""``invoke verify`` of a two-platform index that a real standalone BuildKit node built (foreign
RUN under QEMU) with SLSA provenance and pushed to a real registry on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagefleet import localregistry
from imagefleet import registry as registry_mod
from imagefleet.reference import parse_target
from imagefleet.tags import TagSet
from tests import buildkit
from tests.buildkit import Nodes
from tests.helpers import git, invoke

pytestmark = pytest.mark.integration

NAME = "fx-verify-arch"
PLATFORMS = ("linux/amd64", "linux/arm64")
DOCKERFILE = """\
FROM scratch
ARG TARGETARCH
ARG GREETING=hello
COPY busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo \\"$GREETING\\" > /greeting"]
LABEL org.opencontainers.image.title=fx-verify-arch
"""


@pytest.fixture
def node(tmp_path: Path, registry: localregistry.LocalRegistry) -> Iterator[Nodes]:
    """One buildkitd on loopback that trusts the test registry over HTTP; removed on exit."""
    buildkit.require_multiplatform_node()
    with buildkit.nodes(1, registry.address, parent=tmp_path, prefix="fx-verify") as made:
        yield made


def _project(root: Path) -> Path:
    """A committed project holding images/fx-verify-arch (Dockerfile and image.yml)."""
    image = root / "images" / NAME
    image.mkdir(parents=True)
    (image / "Dockerfile").write_text(DOCKERFILE)
    (image / "image.yml").write_text(
        "description: Two platforms, verified.\nplatforms: [linux/amd64, linux/arm64]\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fixture project")
    return root


def _build(node: Nodes, project: Path, context: Path, registry: str) -> None:
    """buildctl build of both platforms with provenance (mode=max), pushed as one index."""
    for arch in ("amd64", "arm64"):
        found = shutil.which(f"busybox-{arch}")
        assert found is not None
        shutil.copy2(found, context / f"busybox-{arch}")
    done = subprocess.run(
        [
            *("buildctl", "--addr", node.daemons[0].address, "build"),
            *("--frontend", "dockerfile.v0"),
            *("--local", f"context={context}"),
            *("--local", f"dockerfile={project / 'images' / NAME}"),
            *("--opt", f"platform={','.join(PLATFORMS)}"),
            *("--opt", "attest:provenance=mode=max"),
            *("--opt", "build-arg:GREETING=from-the-test"),
            *(
                "--output",
                f"type=image,name={registry}/{NAME}:v1,push=true,registry.insecure=true",
            ),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_verify_reports_platforms_provenance_and_enforces_requirements(
    tmp_path: Path, registry: localregistry.LocalRegistry, node: Nodes
) -> None:
    project = _project(tmp_path / "project")
    context = tmp_path / "context"
    context.mkdir()
    _build(node, project, context, registry.address)
    args = ("verify", "--image", NAME, "--registry", registry.address, "--tag", "v1")

    reported = invoke(project, *args, "--json", env={"INVOKE_FLEET_REQUIRE": ""})
    assert reported.code == 0, reported.stderr
    body = json.loads(reported.stdout)
    assert body["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert sorted(p["platform"] for p in body["platforms"]) == list(PLATFORMS)
    for platform in body["platforms"]:
        provenance = platform["provenance"]
        assert provenance is not None, platform
        assert provenance["predicate_type"] == "https://slsa.dev/provenance/v0.2"
        assert provenance["build_args"] == {"GREETING": "from-the-test"}
        assert provenance["base_images"] == []  # FROM scratch
        assert provenance["started"]
        assert provenance["finished"]
        assert platform["sbom"] is None
        assert platform["labels"]["org.opencontainers.image.title"] == NAME
        assert platform["digest"].startswith("sha256:")
        assert platform["config_digest"].startswith("sha256:")

    text = invoke(project, *args)
    assert text.code == 0, text.stderr
    assert "GREETING=from-the-test" in text.stdout
    assert "sbom none" in text.stdout

    needs_sbom = invoke(project, *args, env={"INVOKE_FLEET_REQUIRE": "sbom"})
    assert needs_sbom.code == 6, needs_sbom.stderr
    assert "lacks what fleet.require asks for: sbom (linux/amd64, linux/arm64)" in needs_sbom.stderr
    assert "hint: " in needs_sbom.stderr

    satisfied = invoke(project, *args, env={"INVOKE_FLEET_REQUIRE": "provenance,platforms"})
    assert satisfied.code == 0, satisfied.stderr
    assert "required provenance, platforms: all present" in satisfied.stdout

    # Promotion reads the real index back: both platform manifests, their configs, and the
    # attestation manifests beside them.
    moved = registry_mod.retag(
        parse_target(registry.address), NAME, "v1", TagSet("v2", ("v2",)), attempts=1, max_wait=0.1
    )
    assert [t.digest for t in moved] == [body["digest"]]
