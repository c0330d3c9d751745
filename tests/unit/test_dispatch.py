"""Builds on BuildKit nodes, with a double for the per-node bake: placement, per-node limits,
parents by digest, pushes by digest, registry cache, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from imagefleet import dispatch
from imagefleet.buildx import Node, NodeResult
from imagefleet.engine import BuildRequest
from imagefleet.errors import BuildStepError
from imagefleet.graph import Graph
from imagefleet.pipeline import Outcome, Quiet
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


class Nodes:
    """Records which per-node builder built what (an image's first request, and all of them), and
    how many at once on each; an image in ``fail``, or with a platform in it, fails."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.requests: dict[str, BuildRequest] = {}
        self.bakes: dict[str, tuple[BuildRequest, ...]] = {}
        self.on: dict[str, str] = {}
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(
        self, builder: str, requests: Sequence[BuildRequest], step: Callable[[str], None]
    ) -> NodeResult:
        request = requests[0]
        with self.lock:
            self.requests[request.image] = request
            self.bakes[request.image] = tuple(requests)
            self.on[request.image] = builder
            self.running[builder] = self.running.get(builder, 0) + 1
            self.peak[builder] = max(self.peak.get(builder, 0), self.running[builder])
        time.sleep(0.05)
        with self.lock:
            self.running[builder] -= 1
        platforms = {p for r in requests for p in r.platforms}
        if request.image in self.fail or platforms & self.fail:
            error = BuildStepError(image=request.image, step="[1/1] RUN false", reason="exit 1")
            return NodeResult(request.image, error=error, seconds=0.05)
        digests = tuple(f"sha256:{n}{request.image:0>63}" for n in range(len(requests)))
        return NodeResult(request.image, digests, seconds=0.05, steps=1)


def _run(
    graph: Graph,
    plans: list[ImagePlan],
    nodes: Nodes,
    *,
    jobs: int = 1,
    ready: dict[str, str] | None = None,
) -> dict[str, Outcome]:
    outcomes = dispatch.run(
        graph, plans, NODES, LOOPBACK, jobs=jobs, reporter=Quiet(), ready=ready, build_on=nodes
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
    assert base.digest == "sha256:0" + "base".rjust(63, "0")
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


# -- platforms, provenance and the SBOM generator ------------------------------------------------

MIXED = dispatch.Nodes(
    {
        "b/n0": Node("b", "n0", "tcp://127.0.0.1:1", "remote", ("linux/amd64", "linux/386")),
        "b/n1": Node("b", "n1", "tcp://127.0.0.1:2", "remote", ("linux/amd64", "linux/arm64")),
    },
    {"b/n0": "imagefleet-b-n0", "b/n1": "imagefleet-b-n1"},
)
WIDE = ("linux/amd64", "linux/arm64")


class Merges:
    """Records each merge of per-platform pushes; the index digest names the image."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.merged: dict[str, tuple[str, ...]] = {}

    def __call__(self, target: object, image: str, digests: Sequence[str]) -> str:
        from imagefleet.errors import TagMissingAfterPushError

        self.merged[image] = tuple(digests)
        if image in self.fail:
            raise TagMissingAfterPushError(reference=f"{image}@{digests[0]}")
        return f"sha256:{image:f>64}"


def test_a_multi_platform_image_bakes_one_target_per_platform_and_merges_one_index(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
) -> None:
    from dataclasses import replace

    graph, plans = family
    wide = [replace(p, platforms=WIDE) if p.name.startswith("solo") else p for p in plans]
    nodes, merges = Nodes(), Merges()
    outcomes = {
        o.name: o
        for o in dispatch.run(
            graph,
            wide,
            MIXED,
            LOOPBACK,
            jobs=2,
            cache=True,
            reporter=Quiet(),
            build_on=nodes,
            merge_on=merges,
        )
    }
    assert {o.status for o in outcomes.values()} == {"built"}
    for name in ("solo-1", "solo-2"):
        assert nodes.on[name] == "imagefleet-b-n1"  # n0 has no arm64: placement as before
        amd64, arm64 = nodes.bakes[name]  # one bake, one target per platform
        assert (amd64.platforms, arm64.platforms) == (("linux/amd64",), ("linux/arm64",))
        ref = f"localhost:5000/fleet/{name}:buildcache-linux"
        assert amd64.cache_to == (f"type=registry,ref={ref}-amd64,mode=max,registry.insecure=true",)
        assert arm64.cache_to == (f"type=registry,ref={ref}-arm64,mode=max,registry.insecure=true",)
        assert arm64.cache_from == (f"type=registry,ref={ref}-arm64,registry.insecure=true",)
        for request in (amd64, arm64):
            assert request.attest == ("type=provenance,mode=max",)
            assert request.outputs == amd64.outputs
            assert "push-by-digest=true" in request.outputs[0]
        # The two pushes, in platform order, become one index: the image's digest.
        assert merges.merged[name] == tuple(f"sha256:{n}{name:0>63}" for n in (0, 1))
        assert outcomes[name].digest == f"sha256:{name:f>64}"
        assert outcomes[name].reference == f"localhost:5000/fleet/{name}@{outcomes[name].digest}"
    assert set(merges.merged) == {"solo-1", "solo-2"}  # single-platform images are not merged
    assert len(nodes.bakes["base"]) == 1


@pytest.mark.parametrize("failing", ["linux/arm64", "merge"])
def test_one_failed_platform_fails_the_image_and_skips_its_descendants(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
    failing: str,
) -> None:
    from dataclasses import replace

    graph, plans = family
    wide = [replace(p, platforms=WIDE) if p.name == "middle" else p for p in plans]
    nodes = Nodes(fail={failing})
    merges = Merges(fail={"middle"} if failing == "merge" else set())
    outcomes = {
        o.name: o
        for o in dispatch.run(
            graph, wide, MIXED, LOOPBACK, reporter=Quiet(), build_on=nodes, merge_on=merges
        )
    }
    assert outcomes["middle"].status == "failed"
    assert outcomes["middle"].digest is None
    assert outcomes["middle"].error is not None
    assert {outcomes[n].status for n in ("leaf-a", "leaf-b")} == {"skipped"}
    assert {outcomes[n].status for n in ("base", "solo-1", "solo-2")} == {"built"}
    assert set(merges.merged) == ({"middle"} if failing == "merge" else set())


@pytest.mark.parametrize(
    ("platforms", "node", "suffix"),
    [
        ((), "b/n0", "linux-amd64"),
        (("linux/arm64",), "b/n1", "linux-arm64"),
        (("linux/arm/v7",), "b/n1", "linux-arm-v7"),
    ],
)
def test_one_platform_is_one_request_with_one_cache_ref(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
    platforms: tuple[str, ...],
    node: str,
    suffix: str,
) -> None:
    from dataclasses import replace

    _, plans = family
    plan = replace(plans[0], platforms=platforms)
    [request] = dispatch.node_requests(plan, LOOPBACK, MIXED.nodes[node], {}, cache=True)
    assert request.platforms == platforms  # none: the node's own, as before
    ref = f"localhost:5000/fleet/{plan.name}:buildcache-{suffix}"
    assert request.cache_to == (f"type=registry,ref={ref},mode=max,registry.insecure=true",)
    with pytest.raises(ValueError, match="one request per platform"):
        dispatch.node_request(replace(plan, platforms=WIDE), LOOPBACK, MIXED.nodes[node], {})


@pytest.mark.parametrize(
    ("wanted", "named"),
    [(("linux/amd64", "linux/s390x"), "linux/s390x"), (("linux/386", "linux/arm64"), "at once")],
)
def test_a_platform_no_node_can_build_is_refused_before_anything_builds(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
    wanted: tuple[str, ...],
    named: str,
) -> None:
    from dataclasses import replace

    from imagefleet.errors import ExitCode, NoNodeForPlatformError

    graph, plans = family
    odd = [replace(p, platforms=wanted) if p.name == "leaf-b" else p for p in plans]
    nodes = Nodes()
    with pytest.raises(NoNodeForPlatformError) as caught:
        dispatch.run(graph, odd, MIXED, LOOPBACK, reporter=Quiet(), build_on=nodes)
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    message = caught.value.message
    assert message.startswith("leaf-b: no BuildKit node can build")
    assert named in message
    assert "b/n0 linux/amd64, linux/386; b/n1 linux/amd64, linux/arm64" in message
    assert "binfmt" in caught.value.hint
    assert "[worker.oci] platforms" in caught.value.hint
    assert nodes.requests == {}


def test_a_fleet_sbom_generator_builds_first_and_the_rest_use_its_digest(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
) -> None:
    from imagefleet.supplychain import Generator

    graph, plans = family
    order: list[str] = []
    nodes = Nodes()

    def build_on(
        builder: str, requests: Sequence[BuildRequest], step: Callable[[str], None]
    ) -> NodeResult:
        order.append(requests[0].image)
        return nodes(builder, requests, step)

    outcomes = {
        o.name: o
        for o in dispatch.run(
            graph,
            plans,
            NODES,
            LOOPBACK,
            jobs=2,
            reporter=Quiet(),
            build_on=build_on,
            generator=Generator(image="middle"),
        )
    }
    assert {o.status for o in outcomes.values()} == {"built"}
    assert order[:2] == ["base", "middle"]  # its ancestor, then the generator, then the rest
    provenance = "type=provenance,mode=max"
    assert nodes.requests["base"].attest == (provenance,)  # built before the generator exists
    assert nodes.requests["middle"].attest == (provenance,)  # no SBOM of itself
    sbom = f"type=sbom,generator=localhost:5000/fleet/middle@{outcomes['middle'].digest}"
    for name in ("leaf-a", "leaf-b", "solo-1", "solo-2"):
        assert nodes.requests[name].attest == (provenance, sbom)


def test_a_generator_reference_is_used_as_is_and_a_failed_generator_skips_the_rest(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
) -> None:
    from imagefleet.supplychain import Generator

    graph, plans = family
    reference = "registry.example.com/tools/scanner@sha256:" + "c" * 64
    nodes = Nodes()
    dispatch.run(
        graph,
        plans,
        NODES,
        LOOPBACK,
        reporter=Quiet(),
        build_on=nodes,
        generator=Generator(reference=reference),
    )
    assert {r.attest[-1] for r in nodes.requests.values()} == {f"type=sbom,generator={reference}"}

    failing = Nodes(fail={"solo-1"})
    outcomes = {
        o.name: o
        for o in dispatch.run(
            graph,
            plans,
            NODES,
            LOOPBACK,
            reporter=Quiet(),
            build_on=failing,
            generator=Generator(image="solo-1"),
        )
    }
    assert outcomes["solo-1"].status == "failed"
    assert {outcomes[n].status for n in ("base", "middle", "solo-2")} == {"skipped"}
    assert outcomes["solo-2"].reason == "SBOM generator solo-1 failed"
    assert set(failing.requests) == {"solo-1"}


def test_a_node_build_keeps_the_secrets(
    family: tuple[Graph, list[ImagePlan]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from imagefleet.secrets import Secret

    _, plans = family
    manifest = replace(plans[0].image.manifest, secrets={"token": Secret(env="FX_NODE_TOKEN")})
    plan = replace(plans[0], image=replace(plans[0].image, manifest=manifest))
    monkeypatch.setenv("FX_NODE_TOKEN", "value")
    request = dispatch.node_request(plan, LOOPBACK, NODES.nodes["b/n0"], {})
    assert request.secrets == ("id=token,env=FX_NODE_TOKEN",)
    assert "value" not in request.build_args.values()
