"""Scheduling of the build pipeline, with engine doubles that record what they are asked: one
image per call (the classic builder) and batches (BuildKit's bake)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet import pipeline
from imagefleet.catalog import discover
from imagefleet.engine import BuildRequest, Engine, StepCallback, TargetResult, TargetStepCallback
from imagefleet.errors import BuildDroppedError, BuildStepError
from imagefleet.git import GitState
from imagefleet.graph import Graph
from imagefleet.plan import ImagePlan, plan_images
from imagefleet.reference import parse_target
from imagefleet.settings import Settings

TARGET = parse_target("ghcr.io/webgrip")
DIGEST = "sha256:" + "f" * 64


class RecordingEngine(Engine):
    """Builds nothing; records order, concurrency and requests; fails the images it is told to."""

    def __init__(self, fail: set[str] | None = None, seconds: float = 0.05) -> None:
        self.use_buildx = False
        self.fail = fail or set()
        self.seconds = seconds
        self.started: list[str] = []
        self.finished: list[str] = []
        self.requests: dict[str, BuildRequest] = {}
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def build(self, request: BuildRequest, on_step: StepCallback | None = None) -> str:
        with self._lock:
            self.started.append(request.image)
            self.requests[request.image] = request
            self.running += 1
            self.peak = max(self.peak, self.running)
        if on_step is not None:
            on_step("[1/1] FROM scratch")
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
            self.finished.append(request.image)
        if request.image in self.fail:
            raise BuildStepError(image=request.image, step="[1/1] RUN false", reason="exit code 1")
        return f"sha256:{request.image}"


class BakingEngine(Engine):
    """Builds nothing; records each batch and request. Images in ``fail`` fail; when one does,
    the images in ``cancel`` of the same batch are not run, as bake cancels the rest. With
    ``ambiguous``, a failure in a batch of several is filed under nobody (all not run)."""

    def __init__(
        self,
        fail: set[str] | None = None,
        cancel: set[str] | None = None,
        *,
        ambiguous: bool = False,
        seconds: float = 0.05,
    ) -> None:
        self.use_buildx = True
        self.fail = fail or set()
        self.cancel = cancel or set()
        self.ambiguous = ambiguous
        self.seconds = seconds
        self.batches: list[list[str]] = []
        self.requests: dict[str, BuildRequest] = {}
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def build_batch(
        self, requests: Sequence[BuildRequest], on_step: TargetStepCallback | None = None
    ) -> dict[str, TargetResult]:
        with self._lock:
            self.batches.append([r.image for r in requests])
            self.requests.update({r.image: r for r in requests})
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.seconds)
        failing = {r.image for r in requests} & self.fail
        results: dict[str, TargetResult] = {}
        for r in requests:
            if on_step is not None:
                on_step(r.image, "[1/1] FROM scratch")
            lost = any(results[p].image_id is None for p in r.batch_parents.values())
            if failing and self.ambiguous and len(requests) > 1:
                results[r.image] = TargetResult(r.image)
            elif r.image in self.fail:
                error = BuildStepError(image=r.image, step="[1/1] RUN false", reason="exit code 1")
                results[r.image] = TargetResult(r.image, error=error, seconds=1.5)
            elif lost or (failing and r.image in self.cancel):
                results[r.image] = TargetResult(r.image)
            else:
                results[r.image] = TargetResult(r.image, f"sha256:{r.image}", seconds=2.5)
        with self._lock:
            self.running -= 1
        return results


class RecordingReporter:
    """Records what the pipeline reports, as (event, image[, text]) tuples."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def started(self, name: str) -> None:
        self.events.append(("started", name))

    def step(self, name: str, text: str) -> None:
        self.events.append(("step", name, text))

    def finished(self, outcome: pipeline.Outcome) -> None:
        self.events.append(("finished", outcome.name, outcome.status))


def _image(root: Path, name: str, dockerfile: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "Dockerfile").write_text(dockerfile)


@pytest.fixture
def family(tmp_path: Path) -> tuple[Graph, list[ImagePlan]]:
    images = tmp_path / "images"
    _image(images, "base", "FROM alpine:3\n")
    _image(images, "middle", "FROM ghcr.io/webgrip/base:latest\n")
    _image(images, "leaf-a", "FROM ghcr.io/webgrip/middle:latest\n")
    _image(
        images,
        "leaf-b",
        f"FROM ghcr.io/webgrip/middle:latest\nCOPY --from=ghcr.io/webgrip/base@{DIGEST} /a /a\n",
    )
    _image(images, "solo-1", "FROM scratch\n")
    _image(images, "solo-2", "FROM scratch\n")
    settings = Settings(root=tmp_path, images_dir=images, target=TARGET)
    catalog = discover(images)
    git = GitState(
        sha="a" * 40, dirty=False, branch="main", committed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    return Graph.build(catalog, settings.targets), plan_images(catalog.images, settings, git)


def test_parents_first_and_at_most_jobs_at_once(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    engine = RecordingEngine()
    outcomes = pipeline.run(engine, graph, plans, jobs=2)
    assert all(o.status == "built" for o in outcomes)
    assert engine.peak == 2
    done = engine.finished
    assert done.index("base") < engine.started.index("middle")
    assert done.index("middle") < min(
        engine.started.index("leaf-a"), engine.started.index("leaf-b")
    )
    assert [o.name for o in outcomes][:2] == ["base", "solo-1"]  # build order, by wave


def test_children_build_from_the_parent_of_this_run(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    engine = RecordingEngine()
    pipeline.run(engine, graph, plans, jobs=3)
    local = {p.name: p.local_ref for p in plans}
    assert engine.requests["middle"].parents == {"ghcr.io/webgrip/base:latest": local["base"]}
    # A digest-pinned parent stays pinned: only the tag reference is replaced.
    assert engine.requests["leaf-b"].parents == {"ghcr.io/webgrip/middle:latest": local["middle"]}
    assert engine.requests["base"].parents == {}


def test_a_failure_skips_descendants_and_spares_the_rest(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    engine = RecordingEngine(fail={"middle"})
    outcomes = {o.name: o for o in pipeline.run(engine, graph, plans, jobs=2)}
    assert outcomes["middle"].status == "failed"
    assert "RUN false" in outcomes["middle"].reason
    for leaf in ("leaf-a", "leaf-b"):
        assert outcomes[leaf].status == "skipped"
        assert outcomes[leaf].reason == "parent middle failed"
    assert {outcomes[n].status for n in ("base", "solo-1", "solo-2")} == {"built"}
    assert "leaf-a" not in engine.started


def test_only_selected_images_are_built(family: tuple[Graph, list[ImagePlan]]) -> None:
    graph, plans = family
    engine = RecordingEngine()
    chosen = [p for p in plans if p.name in ("leaf-a", "solo-2")]
    outcomes = pipeline.run(engine, graph, chosen, jobs=1)
    assert [o.name for o in outcomes] == ["leaf-a", "solo-2"]
    assert engine.requests["leaf-a"].parents == {}  # middle is not rebuilt: use the published one


def test_each_image_is_reported_started_stepped_and_finished(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    reporter = RecordingReporter()
    pipeline.run(RecordingEngine(fail={"middle"}), graph, plans, jobs=2, reporter=reporter)
    events = reporter.events
    for name in ("base", "middle", "solo-1", "solo-2"):
        mine = [e for e in events if e[1] == name]
        assert mine[0] == ("started", name)
        assert mine[1] == ("step", name, "[1/1] FROM scratch")
        assert mine[-1][0] == "finished"
        assert len(mine) == 3
    assert ("finished", "middle", "failed") in events
    # Skipped images never start: only their outcome is reported.
    assert [e for e in events if e[1] == "leaf-a"] == [("finished", "leaf-a", "skipped")]


def test_buildkit_builds_the_family_in_one_batch(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    engine = BakingEngine()
    outcomes = pipeline.run(engine, graph, plans, jobs=2)
    assert engine.batches == [["base", "solo-1", "solo-2", "middle", "leaf-a", "leaf-b"]]
    assert [(o.name, o.status, o.seconds) for o in outcomes][:2] == [
        ("base", "built", 2.5),
        ("solo-1", "built", 2.5),
    ]
    assert outcomes[0].image_id == "sha256:base"
    assert outcomes[0].reference == next(p.local_ref for p in plans if p.name == "base")
    # A parent in the same batch is a target of it; a digest pin stays pinned.
    assert engine.requests["middle"].batch_parents == {"ghcr.io/webgrip/base:latest": "base"}
    assert engine.requests["leaf-b"].batch_parents == {"ghcr.io/webgrip/middle:latest": "middle"}
    assert all(r.parents == {} for r in engine.requests.values())


def test_batches_are_bounded_and_later_ones_get_earlier_parents_as_images(
    family: tuple[Graph, list[ImagePlan]], monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, plans = family
    monkeypatch.setattr(pipeline, "BATCH_MAX", 2)
    engine = BakingEngine()
    outcomes = pipeline.run(engine, graph, plans, jobs=2)
    assert {o.status for o in outcomes} == {"built"}
    assert sorted(engine.batches) == [
        ["base", "middle"],
        ["leaf-a", "leaf-b"],
        ["solo-1", "solo-2"],
    ]
    assert engine.batches[-1] == ["leaf-a", "leaf-b"]  # waits for its parents' batch
    assert engine.peak == 2  # the solo batch shares nothing with the family: side by side
    local = {p.name: p.local_ref for p in plans}
    assert engine.requests["middle"].batch_parents == {"ghcr.io/webgrip/base:latest": "base"}
    assert engine.requests["leaf-a"].parents == {"ghcr.io/webgrip/middle:latest": local["middle"]}
    assert engine.requests["leaf-a"].batch_parents == {}


def test_one_job_runs_one_batch_at_a_time(
    family: tuple[Graph, list[ImagePlan]], monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, plans = family
    monkeypatch.setattr(pipeline, "BATCH_MAX", 2)
    engine = BakingEngine()
    pipeline.run(engine, graph, plans, jobs=1)
    assert engine.peak == 1
    assert len(engine.batches) == 3


def test_a_failure_in_a_batch_skips_descendants_and_reruns_the_cancelled(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    engine = BakingEngine(fail={"middle"}, cancel={"solo-2"})
    reporter = RecordingReporter()
    outcomes = {o.name: o for o in pipeline.run(engine, graph, plans, reporter=reporter)}
    assert outcomes["middle"].status == "failed"
    assert "RUN false" in outcomes["middle"].reason
    assert outcomes["middle"].seconds == 1.5
    for leaf in ("leaf-a", "leaf-b"):
        assert outcomes[leaf].status == "skipped"
        assert outcomes[leaf].reason == "parent middle failed"
    assert {outcomes[n].status for n in ("base", "solo-1", "solo-2")} == {"built"}
    # Only the cancelled image goes again: not the failed one, nor its descendants.
    assert engine.batches[1:] == [["solo-2"]]
    # Started once although it ran twice; a skipped image may have shown steps before bake
    # cancelled it, and then finishes skipped.
    assert [e for e in reporter.events if e[:2] == ("started", "solo-2")] == [("started", "solo-2")]
    assert [e for e in reporter.events if e[1] == "leaf-a"][-1] == ("finished", "leaf-a", "skipped")


def test_a_failure_filed_under_nobody_is_found_by_building_alone(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    engine = BakingEngine(fail={"middle"}, ambiguous=True)
    outcomes = {o.name: o for o in pipeline.run(engine, graph, plans)}
    assert outcomes["middle"].status == "failed"
    assert {outcomes[n].status for n in ("leaf-a", "leaf-b")} == {"skipped"}
    assert {outcomes[n].status for n in ("base", "solo-1", "solo-2")} == {"built"}
    assert engine.batches[1] == ["base"]  # nothing settled: the first image alone
    assert ["middle"] in engine.batches


def test_ready_parents_are_local_images_for_children(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family
    chosen = [p for p in plans if p.name in ("leaf-a", "leaf-b")]
    ready = {"middle": "middle:up-to-date", "base": "base:up-to-date"}
    for engine in (BakingEngine(), RecordingEngine()):
        pipeline.run(engine, graph, chosen, ready=ready)
        assert engine.requests["leaf-a"].parents == {
            "ghcr.io/webgrip/middle:latest": "middle:up-to-date"
        }
        assert engine.requests["leaf-a"].batch_parents == {}


def test_a_lone_image_that_bake_did_not_run_fails_instead_of_looping(
    family: tuple[Graph, list[ImagePlan]],
) -> None:
    graph, plans = family

    class Silent(BakingEngine):
        def build_batch(
            self, requests: Sequence[BuildRequest], on_step: TargetStepCallback | None = None
        ) -> dict[str, TargetResult]:
            self.batches.append([r.image for r in requests])
            return {r.image: TargetResult(r.image) for r in requests}

    engine = Silent()
    outcomes = {o.name: o for o in pipeline.run(engine, graph, plans)}
    assert outcomes["base"].status == "failed"
    assert "BuildKit did not build it" in outcomes["base"].reason
    assert outcomes["leaf-a"].reason == "parent middle was skipped"
    assert len(engine.batches) < 12


class DroppingEngine(BakingEngine):
    """Bake calls BuildKit drops: the n-th call (from 0) exports only ``exports[n]`` of its
    images (parents first) and drops the rest; calls past the list build everything."""

    def __init__(self, exports: list[set[str]]) -> None:
        super().__init__(seconds=0.0)
        self.exports = exports

    def build_batch(
        self, requests: Sequence[BuildRequest], on_step: TargetStepCallback | None = None
    ) -> dict[str, TargetResult]:
        call = len(self.batches)
        results = super().build_batch(requests, on_step)
        if call >= len(self.exports):
            return results
        why = "failed to receive status: rpc error: code = NotFound desc = no such job"
        return {
            n: r if n in self.exports[call] else TargetResult(n, dropped=why)
            for n, r in results.items()
        }


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "DROP_PAUSE", 0.0)


def test_a_dropped_batch_goes_again_without_what_it_exported(
    family: tuple[Graph, list[ImagePlan]], no_pause: None, caplog: pytest.LogCaptureFixture
) -> None:
    graph, plans = family
    engine = DroppingEngine([{"base", "solo-1"}, {"middle"}])
    reporter = RecordingReporter()
    outcomes = {o.name: o for o in pipeline.run(engine, graph, plans, reporter=reporter)}
    assert {o.status for o in outcomes.values()} == {"built"}
    # The whole rest goes again in one bake (not image by image); exported images are not asked
    # for again, and a retry's parents built by an earlier attempt are local images now.
    assert engine.batches == [
        ["base", "solo-1", "solo-2", "middle", "leaf-a", "leaf-b"],
        ["solo-2", "middle", "leaf-a", "leaf-b"],
        ["solo-2", "leaf-a", "leaf-b"],
    ]
    local = {p.name: p.local_ref for p in plans}
    assert engine.requests["middle"].parents == {"ghcr.io/webgrip/base:latest": local["base"]}
    assert engine.requests["leaf-a"].parents == {"ghcr.io/webgrip/middle:latest": local["middle"]}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "BuildKit dropped a batch of 6 images (failed to receive status: rpc error: code = "
        "NotFound desc = no such job); 2 done, the other 4 go again (retry 1 of 3)",
        "BuildKit dropped a batch of 4 images (failed to receive status: rpc error: code = "
        "NotFound desc = no such job); 1 done, the other 3 go again (retry 2 of 3)",
    ]
    assert [e for e in reporter.events if e[:2] == ("finished", "base")] == [
        ("finished", "base", "built")
    ]


def test_a_batch_dropped_every_time_fails_after_the_retries(
    family: tuple[Graph, list[ImagePlan]], no_pause: None
) -> None:
    graph, plans = family
    engine = DroppingEngine([{"solo-1"}] + [set()] * 10)
    outcomes = {o.name: o for o in pipeline.run(engine, graph, plans)}
    assert len(engine.batches) == 1 + pipeline.DROP_RETRIES
    assert outcomes["solo-1"].status == "built"
    assert all(b == ["base", "solo-2", "middle", "leaf-a", "leaf-b"] for b in engine.batches[1:])
    for name in ("base", "solo-2", "middle", "leaf-a", "leaf-b"):
        error = outcomes[name].error
        assert isinstance(error, BuildDroppedError)
        assert outcomes[name].status == "failed"
        assert error.message == (
            f"{name}: BuildKit dropped its build 4 times, no step failing (failed to receive "
            "status: rpc error: code = NotFound desc = no such job)"
        )


def test_a_dropped_lone_image_goes_again_instead_of_failing(
    family: tuple[Graph, list[ImagePlan]], no_pause: None
) -> None:
    graph, plans = family
    chosen = [p for p in plans if p.name == "solo-1"]
    engine = DroppingEngine([set(), set()])
    [outcome] = pipeline.run(engine, graph, chosen)
    assert outcome.status == "built"
    assert engine.batches == [["solo-1"]] * 3


def test_a_retry_waits_before_it_bakes_again(
    family: tuple[Graph, list[ImagePlan]], monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, plans = family
    monkeypatch.setattr(pipeline, "DROP_PAUSE", 0.3)
    engine = DroppingEngine([set()])
    started = time.monotonic()
    pipeline.run(engine, graph, [p for p in plans if p.name == "solo-1"])
    assert time.monotonic() - started >= 0.3
