"""Digests files, and `invoke promote` tagging pushed digests in a real registry (on loopback, no
Docker: the images are uploaded over the registry's HTTP API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from imagefleet import localregistry, staging
from imagefleet.errors import DigestsFormatError, DigestsMissingError
from tests import seeding
from tests.helpers import FIXTURES, git, invoke, make_project, require

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def test_a_directory_reads_as_the_union_of_its_files(tmp_path: Path) -> None:
    staging.record(tmp_path, "fx-base", A)
    staging.record(tmp_path, "fx-middle", B)
    (tmp_path / "notes.txt").write_text("not a digests file")
    assert staging.read(tmp_path) == {"fx-base": A, "fx-middle": B}
    assert staging.read(tmp_path / "fx-base.json") == {"fx-base": A}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON (Expecting property name enclosed in double quotes, line 1)"),
        ('["fx-base"]', "a JSON list, not an object"),
        ('{"fx-base": "latest"}', "fx-base: 'latest' is not a sha256:<64 hex> digest"),
    ],
)
def test_bad_digests_files_say_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "digests.json"
    path.write_text(text)
    with pytest.raises(DigestsFormatError) as caught:
        staging.read(path)
    assert caught.value.message == f"{path}: {problem}"


def test_two_digests_for_one_image_and_nothing_at_all_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DigestsMissingError):
        staging.read(tmp_path)
    (tmp_path / "one.json").write_text(json.dumps({"fx-base": A}))
    (tmp_path / "two.json").write_text(json.dumps({"fx-base": B}))
    with pytest.raises(DigestsFormatError, match=r"fx-base is sha256:b+, but one\.json says"):
        staging.read(tmp_path)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[localregistry.LocalRegistry]:
    if localregistry.find_binary() is None:
        require("no registry binary", "apt-get install docker-registry")
    with localregistry.running(tmp_path / "registry") as running:
        yield running


def _upload(registry: localregistry.LocalRegistry, repository: str, label: str) -> str:
    """Push a tiny image (a config blob and its manifest) by digest only; return the digest."""
    config = {"architecture": "amd64", "os": "linux", "config": {"Labels": {"x": label}}}
    return seeding.image(registry.url, repository, config)


def _tags(registry: localregistry.LocalRegistry, repository: str) -> dict[str, str]:
    listed = requests.get(f"{registry.url}/v2/{repository}/tags/list", timeout=10)
    if listed.status_code == 404:
        return {}
    found: dict[str, str] = {}
    for tag in listed.json().get("tags") or []:
        head = requests.head(
            f"{registry.url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": MANIFEST_TYPE},
            timeout=10,
        )
        found[tag] = head.headers["Docker-Content-Digest"]
    return found


@pytest.fixture
def family(tmp_path: Path) -> Path:
    return make_project(
        tmp_path / "family",
        {p.name: p for p in (FIXTURES / "family").iterdir() if p.name != "fx-solo"},
        with_busybox=False,
    )


def test_promote_tags_every_digest_sha_tags_first_latest_last(
    family: Path, registry: localregistry.LocalRegistry, tmp_path: Path
) -> None:
    names = ("fx-base", "fx-middle", "fx-leaf-a")
    digests = {n: _upload(registry, f"fleet/{n}", n) for n in names}
    for name, digest in digests.items():
        staging.record(tmp_path / "digests", name, digest)
    sha = git(family, "rev-parse", "HEAD")
    result = invoke(
        family,
        "promote",
        "--digests",
        str(tmp_path / "digests"),
        "--registry",
        f"{registry.address}/fleet",
        "--json",
        # The family's Dockerfiles name their parents through localhost:5000/fleet.
        env={"INVOKE_FLEET_REGISTRY": "localhost:5000/fleet"},
    )
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == list(names)  # build order: parents first
    for name in names:
        tags = _tags(registry, f"fleet/{name}")
        assert tags[sha] == tags[f"sha-{sha[:12]}"] == tags["latest"] == digests[name]
        assert [ref for ref in data[name] if ":" in ref][-1].endswith(":latest")


def test_every_latest_moves_after_every_other_tag(
    registry: localregistry.LocalRegistry,
) -> None:
    from imagefleet.reference import parse_target
    from imagefleet.tags import TagSet

    target = parse_target(f"{registry.address}/fleet")
    staged = [
        (name, _upload(registry, f"fleet/{name}", name), TagSet("s1", ("s1", "1.0", "latest")))
        for name in ("fx-base", "fx-middle")
    ]
    moved: list[str] = []
    staging.promote(
        target,
        staged,
        attempts=1,
        max_wait=0,
        on_tag=lambda name, t: moved.append(f"{name}:{t.reference.rsplit(':', 1)[1]}"),
    )
    assert moved == [
        "fx-base:s1",
        "fx-base:1.0",
        "fx-middle:s1",
        "fx-middle:1.0",
        "fx-base:latest",
        "fx-middle:latest",
    ]


def test_promote_moves_nothing_when_a_digest_is_not_in_the_registry(
    family: Path, registry: localregistry.LocalRegistry, tmp_path: Path
) -> None:
    present = _upload(registry, "fleet/fx-base", "fx-base")
    (tmp_path / "digests.json").write_text(json.dumps({"fx-base": present, "fx-middle": A}))
    result = invoke(
        family,
        "promote",
        "--digests",
        str(tmp_path / "digests.json"),
        env={"INVOKE_FLEET_REGISTRY": f"{registry.address}/fleet"},
    )
    assert result.code == 5, result.output
    assert f"{registry.address}/fleet/fx-middle@{A} is not in the registry" in result.stderr
    assert _tags(registry, "fleet/fx-base") == {}  # decided first: no tag moved
