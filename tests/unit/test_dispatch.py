"""Builds on BuildKit nodes, with a double for the per-node bake: placement, per-node limits,
parents by digest, pushes by digest, registry cache, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from imagefleet import dispatch
from imagefleet.buildx import Node, NodeResult
from imagefleet.engine import BuildRequest
from imagefleet.errors import BuildStepError
from imagefleet.graph import Graph
from imagefleet.pipeline import Outcome
from imagefleet.plan import ImagePlan
from imagefleet.reference import parse_target
from tests.unit.test_pipeline import family  # noqa: F401 - a fixture

LOOPBACK = parse_target("localhost:5000/fleet")
NODES = dispatch.Nodes(
    {
        "b/n0": Node("b", "n0", "tcp://127.0.0.1:1", "remote", ("linux/amd64",)),
        "b/n1": Node("b", "n1", "tcp://127.0.0.1:2", "remote", ("linux/amd64",)),
    },
    {"b/n0": "imagefleet-b-n0", "b/n1": "imagefleet-b-n1"},
)


class Reporter:
    """Reports nothing."""

    def started(self, name: str) -> None:
        pass

    def step(self, name: str, text: str) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass


class Nodes:
    """Records which per-node builder built what, and how many at once on each."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.requests: dict[str, BuildRequest] = {}
        self.on: dict[str, str] = {}
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(
        self, builder: str, request: BuildRequest, step: Callable[[str], None]
    ) -> NodeResult:
        with self.lock:
            self.requests[request.image] = request
            self.on[request.image] = builder
            self.running[builder] = self.running.get(builder, 0) + 1
            self.peak[builder] = max(self.peak.get(builder, 0), self.running[builder])
        time.sleep(0.05)
        with self.lock:
            self.running[builder] -= 1
        if request.image in self.fail:
            error = BuildStepError(image=request.image, step="[1/1] RUN false", reason="exit 1")
            return NodeResult(request.image, error=error, seconds=0.05)
        return NodeResult(request.image, f"sha256:{request.image:0>64}", seconds=0.05, steps=1)


def _run(
    graph: Graph,
    plans: list[ImagePlan],
    nodes: Nodes,
    *,
    jobs: int = 1,
    ready: dict[str, str] | None = None,
) -> dict[str, Outcome]:
    outcomes = dispatch.run(
        graph, plans, NODES, LOOPBACK, jobs=jobs, reporter=Reporter(), ready=ready, build_on=nodes
    )
    return {o.name: o for o in outcomes}


def test_each_image_is_pushed_by_digest_and_children_get_parents_by_digest(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
) -> None:
    graph, plans = family
    nodes = Nodes()
    outcomes = _run(graph, plans, nodes)
    assert {o.status for o in outcomes.values()} == {"built"}
    base = outcomes["base"]
    assert base.reference == f"localhost:5000/fleet/base@{base.digest}"
    assert base.node in ("n0", "n1")
    assert base.builder == "b"
    request = nodes.requests["middle"]
    assert request.parents == {"ghcr.io/webgrip/base:latest": base.reference}
    assert request.tags == ()
    [output] = request.outputs
    assert "push-by-digest=true" in output
    assert "name=localhost:5000/fleet/middle" in output
    assert "registry.insecure=true" in output  # loopback: plain HTTP
    assert request.cache_from == request.cache_to == ()


def test_both_nodes_are_used_and_placement_is_stable(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
) -> None:
    graph, plans = family
    first, second = Nodes(), Nodes()
    _run(graph, plans, first)
    _run(graph, plans, second)
    assert first.on == second.on
    assert set(first.on.values()) == {"imagefleet-b-n0", "imagefleet-b-n1"}


def test_at_most_jobs_builds_per_node(family: tuple[Graph, list[ImagePlan]]) -> None:  # noqa: F811
    graph, plans = family
    nodes = Nodes()
    _run(graph, plans, nodes, jobs=1)
    assert max(nodes.peak.values()) == 1


def test_a_failure_skips_only_its_descendants(family: tuple[Graph, list[ImagePlan]]) -> None:  # noqa: F811
    graph, plans = family
    nodes = Nodes(fail={"middle"})
    outcomes = _run(graph, plans, nodes, jobs=2)
    assert outcomes["middle"].status == "failed"
    assert outcomes["middle"].node in ("n0", "n1")
    assert {outcomes[n].status for n in ("leaf-a", "leaf-b")} == {"skipped"}
    assert {outcomes[n].status for n in ("base", "solo-1", "solo-2")} == {"built"}
    assert "leaf-a" not in nodes.requests


def test_ready_parents_come_by_digest(family: tuple[Graph, list[ImagePlan]]) -> None:  # noqa: F811
    graph, plans = family
    nodes = Nodes()
    pinned = "localhost:5000/fleet/base@sha256:" + "a" * 64
    rest = [p for p in plans if p.name != "base"]
    _run(graph, rest, nodes, ready={"base": pinned})
    assert nodes.requests["middle"].parents == {"ghcr.io/webgrip/base:latest": pinned}


@pytest.mark.parametrize(
    ("platforms", "suffix"), [((), "linux-amd64"), (("linux/arm64",), "linux-arm64")]
)
def test_registry_cache_is_one_ref_per_image_and_platform(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
    platforms: tuple[str, ...],
    suffix: str,
) -> None:
    from dataclasses import replace

    _, plans = family
    plan = replace(plans[0], platforms=platforms)
    request = dispatch.node_request(plan, LOOPBACK, NODES.nodes["b/n0"], {}, cache=True)
    ref = f"localhost:5000/fleet/{plan.name}:buildcache-{suffix}"
    assert request.cache_to == (f"type=registry,ref={ref},mode=max,registry.insecure=true",)
    assert request.cache_from == (f"type=registry,ref={ref},registry.insecure=true",)


def test_a_node_build_keeps_the_secrets(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from imagefleet.secrets import Secret

    _, plans = family
    manifest = plans[0].image.manifest.model_copy(
        update={"secrets": {"token": Secret(env="FX_NODE_TOKEN")}}
    )
    plan = replace(plans[0], image=replace(plans[0].image, manifest=manifest))
    monkeypatch.setenv("FX_NODE_TOKEN", "value")
    request = dispatch.node_request(plan, LOOPBACK, NODES.nodes["b/n0"], {})
    assert request.secrets == ("id=token,env=FX_NODE_TOKEN",)
    assert "value" not in request.build_args.values()
