"""The fixture family built on two real standalone BuildKit daemons made one buildx builder,
parents handed over by digest through a real registry on loopback."""

from __future__ import annotations

import json
import os
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
from tests.helpers import git, invoke, require

pytestmark = pytest.mark.integration

FAMILY = ("fx-base", "fx-middle", "fx-leaf-a", "fx-leaf-b", "fx-solo")


@pytest.fixture
def nodes(tmp_path: Path, registry: localregistry.LocalRegistry) -> Iterator[Nodes]:
    """Two buildkitd on loopback (their registry config trusts the test registry over HTTP) and
    one buildx builder of both; daemons, builders and state removed even on failure."""
    if (missing := buildkit.available()) is not None:
        require(missing, "../shared/env/provision buildkit")
    if os.geteuid() != 0:
        require("buildkitd needs root here", "run the integration tests as root")
    with buildkit.nodes(2, registry.address, parent=tmp_path) as made:
        yield made


def _build(project: Path, env: dict[str, str], nodes: Nodes, *extra: str) -> Any:
    address = env["INVOKE_FLEET_REGISTRY"]
    result = invoke(
        project,
        *("build", "--all", "--builder", nodes.name, "--push", "--registry", address, "--json"),
        *extra,
        env=env,
        timeout=600,
    )
    printed = json.loads(result.stdout or "[]")
    # A failing --json run prints one object: its error beside the per-image outcomes.
    return result, printed["images"] if isinstance(printed, dict) else printed


def _layers(client: RegistryClient, path: str, digest: str) -> list[str]:
    """The layer digests of ``path@digest`` (the platform image of an index)."""
    found = client.manifest_bytes(path, digest)
    assert found is not None
    body = json.loads(found[0])
    if "manifests" in body:
        image = next(m for m in body["manifests"] if m.get("platform", {}).get("os") != "unknown")
        return _layers(client, path, image["digest"])
    return [layer["digest"] for layer in body["layers"]]


def test_the_family_builds_across_two_nodes_with_parents_by_digest(
    family: tuple[Path, dict[str, str]], nodes: Nodes
) -> None:
    project, env = family
    target = parse_target(env["INVOKE_FLEET_REGISTRY"])
    client = RegistryClient(target.domain)

    result, outcomes = _build(project, env, nodes)
    assert result.code == 0, result.output
    by_name = {o["image"]: o for o in outcomes}
    assert set(by_name) == set(FAMILY)
    assert {o["status"] for o in outcomes} == {"built"}
    assert {o["builder"] for o in outcomes} == {nodes.name}
    assert len({o["node"] for o in outcomes}) == 2, outcomes  # both nodes were used
    for line in ("node", nodes.name):
        assert line in result.stderr

    # Each child was built FROM its parent's pushed digest: its layers start with the parent's.
    for child, parent in (("fx-middle", "fx-base"), ("fx-leaf-a", "fx-middle")):
        mine = _layers(client, f"fleet/{child}", by_name[child]["digest"])
        theirs = _layers(client, f"fleet/{parent}", by_name[parent]["digest"])
        assert mine[: len(theirs)] == theirs
        assert len(mine) > len(theirs)

    # Every tag is there, on the digest that was built; latest moved after every other tag.
    for name, outcome in by_name.items():
        assert "latest" in outcome["tags"]
        for tag in outcome["tags"]:
            remote = client.manifest(f"fleet/{name}", tag)
            assert remote is not None, f"{name}:{tag}"
            assert remote.digest == outcome["digest"]
    verified = [line for line in result.stderr.splitlines() if " verified" in line]
    latest = [i for i, line in enumerate(verified) if ":latest " in line]
    others = [i for i, line in enumerate(verified) if ":latest " not in line]
    assert latest
    assert others
    assert max(others) < min(latest)

    # The same images on the same nodes, with a registry cache written this time.
    again, second = _build(project, env, nodes, "--force", "--cache", "registry")
    assert again.code == 0, again.output
    assert {o["image"]: o["node"] for o in second} == {n: o["node"] for n, o in by_name.items()}

    # Fresh daemons (no local state): every step comes from the registry cache.
    nodes.wipe()
    cached, third = _build(project, env, nodes, "--force", "--cache", "registry")
    assert cached.code == 0, cached.output
    for outcome in third:
        assert outcome["steps"] > 0, outcome
        assert outcome["cached_steps"] == outcome["steps"], outcome

    # Without --force nothing is built: every content key is in the registry.
    idle, fourth = _build(project, env, nodes)
    assert idle.code == 0, idle.output
    assert {o["status"] for o in fourth} == {"up-to-date"}


def test_a_failing_image_on_a_node_skips_only_its_descendants(
    family: tuple[Path, dict[str, str]], nodes: Nodes
) -> None:
    project, env = family
    dockerfile = project / "images" / "fx-middle" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'RUN ["/bin/false"]\n')
    git(project, "commit", "-q", "-a", "-m", "break fx-middle")
    target = parse_target(env["INVOKE_FLEET_REGISTRY"])

    result, outcomes = _build(project, env, nodes)
    assert result.code == 4, result.output
    status = {o["image"]: o["status"] for o in outcomes}
    assert status == {
        "fx-base": "built",
        "fx-solo": "built",
        "fx-middle": "failed",
        "fx-leaf-a": "skipped",
        "fx-leaf-b": "skipped",
    }
    failed = next(o for o in outcomes if o["status"] == "failed")
    assert failed["node"]
    # A failed run moves no tag: the built images stay pushed by digest only.
    client = RegistryClient(target.domain)
    assert client.manifest("fleet/fx-base", "latest") is None


def test_waves_hand_parents_over_by_digest_and_promote_moves_the_tags(
    family: tuple[Path, dict[str, str]], nodes: Nodes, tmp_path: Path
) -> None:
    """What the publish workflow's wave jobs do: each builds its images with --digests (nothing
    tagged but the content key), the next builds on the recorded digest, promote tags them."""
    project, env = family
    address = env["INVOKE_FLEET_REGISTRY"]
    target = parse_target(address)
    client = RegistryClient(target.domain)
    digests = tmp_path / "digests"

    def wave(*images: str) -> dict[str, Any]:
        selected = [arg for name in images for arg in ("--image", name)]
        result = invoke(
            project,
            *("build", *selected, "--builder", nodes.name, "--push", "--registry", address),
            *("--digests", str(digests), "--json"),
            env=env,
            timeout=600,
        )
        assert result.code == 0, result.output
        return {o["image"]: o for o in json.loads(result.stdout)}

    first = wave("fx-base")
    assert first["fx-base"]["status"] == "built"
    recorded = json.loads((digests / "fx-base.json").read_text())
    assert recorded == {"fx-base": first["fx-base"]["digest"]}
    assert client.manifest("fleet/fx-base", "latest") is None  # staged: no tag moved
    listed = requests.get(f"http://{target.domain}/v2/fleet/fx-base/tags/list", timeout=10)
    key_tags = [t for t in listed.json()["tags"] if t.startswith("key-")]
    assert key_tags  # the content key is tagged at once: other jobs find the image by it
    for tag in key_tags:
        remote = client.manifest("fleet/fx-base", tag)
        assert remote is not None
        assert remote.digest == first["fx-base"]["digest"]

    second = wave("fx-middle")  # another job: its parent comes by the recorded digest
    assert second["fx-middle"]["status"] == "built"
    assert "fx-base" not in second  # not rebuilt here
    mine = _layers(client, "fleet/fx-middle", second["fx-middle"]["digest"])
    theirs = _layers(client, "fleet/fx-base", first["fx-base"]["digest"])
    assert mine[: len(theirs)] == theirs

    promoted = invoke(
        project, "promote", "--digests", str(digests), "--registry", address, env=env, timeout=120
    )
    assert promoted.code == 0, promoted.output
    for name, outcome in (("fx-base", first["fx-base"]), ("fx-middle", second["fx-middle"])):
        remote = client.manifest(f"fleet/{name}", "latest")
        assert remote is not None
        assert remote.digest == outcome["digest"]
