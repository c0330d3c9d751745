from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet.catalog import discover
from imagefleet.errors import DependencyCycleError
from imagefleet.graph import Graph, match_parent
from imagefleet.reference import parse_target

TARGETS = (
    parse_target("docker.io/webgrip"),
    parse_target("ghcr.io/webgrip"),
    parse_target("mirror.local:5000/proxy/webgrip"),
)
NAMES = {"helm-deploy", "base", "rust-ci-runner"}
DIGEST = "sha256:" + "e" * 64


@pytest.mark.parametrize(
    ("ref", "parent"),
    [
        ("base", "base"),
        ("base:1.2", "base"),
        ("webgrip/base:latest", "base"),
        ("docker.io/webgrip/base", "base"),
        ("index.docker.io/webgrip/base:3", "base"),
        ("ghcr.io/webgrip/base:sha-0123456789ab", "base"),
        ("mirror.local:5000/proxy/webgrip/base:1", "base"),
        (f"ghcr.io/webgrip/base@{DIGEST}", "base"),
        (f"webgrip/base:1@{DIGEST}", "base"),
        ("alpine:3.21.3", None),
        ("ghcr.io/other/base", None),
        ("ghcr.io/webgrip/unknown", None),
        ("quay.io/webgrip/base", None),
        ("webgrip/base/extra", None),
        ("library/base", None),
        ("scratch", None),
        ("not a reference", None),
    ],
)
def test_match_parent(ref: str, parent: str | None) -> None:
    assert match_parent(ref, NAMES, TARGETS) == parent


def test_docker_hub_target_without_namespace_means_library() -> None:
    hub = (parse_target("docker.io"),)
    assert match_parent("alpine:3", {"alpine"}, hub) == "alpine"
    assert match_parent("docker.io/library/alpine", {"alpine"}, hub) == "alpine"


def _write(root: Path, name: str, dockerfile: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "Dockerfile").write_text(dockerfile)


@pytest.fixture
def family(tmp_path: Path) -> Path:
    _write(tmp_path, "base", "FROM alpine:3.21.3\n")
    _write(tmp_path, "middle", "ARG REG=ghcr.io/webgrip\nFROM ${REG}/base:latest\n")
    _write(tmp_path, "leaf-a", "FROM docker.io/webgrip/middle:1\n")
    _write(
        tmp_path,
        "leaf-b",
        "FROM webgrip/middle AS m\nFROM scratch\n"
        "COPY --from=m /a /a\nCOPY --from=webgrip/base /b /b\n",
    )
    _write(tmp_path, "solo", "FROM node:22-bookworm-slim\n")
    return tmp_path


def test_edges_waves_and_descendants(family: Path) -> None:
    graph = Graph.build(discover(family), TARGETS)
    assert graph.parent_names("middle") == ("base",)
    assert graph.parent_names("leaf-b") == ("middle", "base")
    assert graph.parents["middle"][0].reference == "ghcr.io/webgrip/base:latest"
    assert graph.waves() == [["base", "solo"], ["middle"], ["leaf-a", "leaf-b"]]
    assert graph.descendants(["base"]) == {"middle", "leaf-a", "leaf-b"}
    assert graph.descendants(["leaf-a"]) == set()
    assert graph.ancestors("leaf-b") == {"middle", "base"}
    # Without middle in the run, leaf-a builds on the published middle: no edge to base.
    assert graph.waves(["leaf-a", "base"]) == [["base", "leaf-a"]]
    assert graph.waves(["leaf-a", "middle"]) == [["middle"], ["leaf-a"]]


def test_build_args_change_edges(family: Path) -> None:
    graph = Graph.build(discover(family), TARGETS, {"REG": "quay.io/elsewhere"})
    assert graph.parent_names("middle") == ()


def test_cycle_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "a", "FROM webgrip/c\n")
    _write(tmp_path, "b", "FROM webgrip/a\n")
    _write(tmp_path, "c", "FROM scratch\nCOPY --from=ghcr.io/webgrip/b /x /x\n")
    _write(tmp_path, "d", "FROM webgrip/a\n")
    with pytest.raises(DependencyCycleError) as info:
        Graph.build(discover(tmp_path), TARGETS)
    message = info.value.message
    assert message.startswith("dependency cycle between images: ")
    cycle = message.split(": ", 1)[1].split(" -> ")
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}


def test_self_reference_is_not_an_edge(tmp_path: Path) -> None:
    _write(tmp_path, "a", "FROM webgrip/a:previous\n")
    assert Graph.build(discover(tmp_path), TARGETS).waves() == [["a"]]
