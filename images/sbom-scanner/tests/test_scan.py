"""The generator inside the image: BuildKit's SBOM protocol run on a small filesystem."""

from __future__ import annotations

import json

from imagefleet.pytest_plugin import Container

# An Alpine package database with one package: what syft's apk cataloger reads.
APK_DB = """C:Q1abcdefghijklmnopqrstuvwxyz0123=
P:busybox
V:1.36.1-r29
A:x86_64
S:500000
I:900000
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Someone <someone@example.invalid>
t:1700000000
c:abcdef
F:bin
R:busybox

"""


def test_writes_one_spdx_statement_per_filesystem(container: Container) -> None:
    setup = container.exec(
        "mkdir -p /tmp/src/rootfs/lib/apk/db /tmp/src/extras/sbom-context /tmp/out"
        f" && printf '%s' '{APK_DB}' > /tmp/src/rootfs/lib/apk/db/installed"
        " && cp /bin/busybox /tmp/src/rootfs/"
    )
    assert setup.exit_code == 0, setup.output
    scan = container.exec(
        "BUILDKIT_SCAN_SOURCE=/tmp/src/rootfs BUILDKIT_SCAN_DESTINATION=/tmp/out"
        " BUILDKIT_SCAN_SOURCE_EXTRAS=/tmp/src/extras sbom-scan"
    )
    assert scan.exit_code == 0, scan.output
    listing = container.exec("ls /tmp/out")
    assert listing.output.split() == ["rootfs.spdx.json", "sbom-context.spdx.json"]
    statement = json.loads(container.read("/tmp/out/rootfs.spdx.json"))
    assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
    assert statement["predicateType"] == "https://spdx.dev/Document"
    assert statement["predicate"]["spdxVersion"].startswith("SPDX-2.")
    names = {p["name"] for p in statement["predicate"]["packages"]}
    assert "busybox" in names


def test_extras_that_do_not_exist_are_not_scanned(container: Container) -> None:
    scan = container.exec(
        "mkdir -p /tmp/src/rootfs /tmp/out && BUILDKIT_SCAN_SOURCE=/tmp/src/rootfs"
        " BUILDKIT_SCAN_DESTINATION=/tmp/out BUILDKIT_SCAN_SOURCE_EXTRAS=/tmp/nowhere sbom-scan"
        " && ls /tmp/out"
    )
    assert scan.exit_code == 0, scan.output
    assert scan.output.split() == ["rootfs.spdx.json"]
