"""The engine's batch build, with `docker buildx bake` replaced by a recorded log."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, cast

import pytest

from imagefleet import engine as engine_mod
from imagefleet import tools
from imagefleet.bake import HEAD_START_MIN
from imagefleet.engine import BuildRequest, Engine
from imagefleet.errors import (
    BuildDroppedError,
    BuildStepError,
    ContainerStartError,
    ExitCode,
    MultiPlatformUnsupportedError,
)

BAKE_LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "bakelogs"


def _request(image: str, **more: Any) -> BuildRequest:
    more.setdefault("tags", (f"{image}:abc",))
    return BuildRequest(
        image=image, context=Path(f"/p/{image}"), dockerfile=Path(f"/p/{image}/Dockerfile"), **more
    )


class FakeBake:
    """Stands in for ``subprocess.Popen``: prints a recorded log, writes metadata on success."""

    calls: ClassVar[list[dict[str, Any]]] = []
    log: ClassVar[str] = ""
    code: ClassVar[int] = 0
    metadata: ClassVar[dict[str, Any]] = {}

    def __init__(self, argv: list[str], **_: Any) -> None:
        self.argv = argv
        definition = json.loads(Path(argv[argv.index("--file") + 1]).read_text())
        FakeBake.calls.append({"argv": argv, "definition": definition})
        self.answer = self.respond(argv)
        self.stdout: Iterator[str] = iter(line + "\n" for line in self.answer[0].splitlines())

    def respond(self, argv: list[str]) -> tuple[str, int, dict[str, Any]]:
        """The log this bake prints, its exit code and its metadata file."""
        return self.log, self.code, self.metadata

    def wait(self) -> int:
        _log, code, metadata = self.answer
        if code == 0:
            path = Path(self.argv[self.argv.index("--metadata-file") + 1])
            path.write_text(json.dumps(metadata))
        return code

    def __enter__(self) -> FakeBake:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        pass


class Images:
    """The SDK's low-level image listing: answers each query with the next of ``answers``
    (``RepoTags``/``Id`` rows), the last one again when they run out."""

    def __init__(self) -> None:
        self.answers: list[list[dict[str, Any]]] = [[]]
        self.queries: list[dict[str, Any]] = []

        self.removed: list[str] = []
        self.tagged: list[tuple[str, str, str]] = []

    def images(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.queries.append(filters)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def remove_image(self, ref: str, noprune: bool = False) -> None:
        self.removed.append(ref)

    def tag(self, source: str, repository: str, tag: str, force: bool = False) -> None:
        self.tagged.append((source, repository, tag))


class NoDaemon:
    """The Docker SDK client, for tests that must not need it."""

    def __init__(self) -> None:
        self.api = Images()

    def info(self) -> dict[str, Any]:
        return {"DriverStatus": []}


@pytest.fixture
def bake(monkeypatch: pytest.MonkeyPatch) -> type[FakeBake]:
    FakeBake.calls = []
    monkeypatch.setattr(subprocess, "Popen", FakeBake)
    return FakeBake


@pytest.fixture
def engine() -> Engine:
    return Engine(cast(Any, NoDaemon()), use_buildx=True)


def _tags(engine: Engine) -> Images:
    return cast(Images, cast(Any, engine.client).api)


def test_one_bake_call_builds_the_batch(bake: type[FakeBake], engine: Engine) -> None:
    bake.log, bake.code = "", 0
    bake.metadata = {
        "fx-base": {"containerimage.config.digest": "sha256:b"},
        "fx-leaf": {"containerimage.config.digest": "sha256:l"},
    }
    leaf = _request("fx-leaf", batch_parents={"reg/fx-base:latest": "fx-base"})
    results = engine.build_batch([_request("fx-base"), leaf])
    assert [c["argv"][: len(tools.buildx()) + 1] for c in bake.calls] == [[*tools.buildx(), "bake"]]
    assert bake.calls[0]["argv"][-2:] == ["fx-base", "fx-leaf"]
    assert "--progress=plain" in bake.calls[0]["argv"]
    assert bake.calls[0]["definition"]["target"]["fx-leaf"]["contexts"] == {
        "reg/fx-base": "target:fx-base"
    }
    assert {i: (r.image_id, r.error) for i, r in results.items()} == {
        "fx-base": ("sha256:b", None),
        "fx-leaf": ("sha256:l", None),
    }


def test_a_failure_is_filed_under_its_image_the_cancelled_were_not_run(
    bake: type[FakeBake], engine: Engine
) -> None:
    bake.log, bake.code = (BAKE_LOGS / "one-fails.txt").read_text(), 1
    steps: list[tuple[str, str]] = []
    results = engine.build_batch(
        [_request("fx-fails"), _request("fx-slow"), _request("fx-solo")],
        lambda image, title: steps.append((image, title)),
    )
    assert isinstance(results["fx-fails"].error, BuildStepError)
    assert "fixture-marker-42" in "\n".join(results["fx-fails"].error.details)
    assert results["fx-slow"] == engine_mod.TargetResult("fx-slow")
    assert results["fx-solo"].image_id == (
        "sha256:1f39ae197f8cfb26885555e2593919a3aa8913e98979fb258ca8581f1f7c1951"
    )
    assert results["fx-solo"].seconds > 0
    assert ("fx-slow", "[3/3] RUN echo slow-start && sleep 4 && echo slow-end") in steps
    assert not any(title.startswith("[internal]") for _, title in steps)  # quiet bookkeeping


def test_a_failure_under_a_child_whose_parent_was_not_exported_proves_nothing(
    bake: type[FakeBake], engine: Engine
) -> None:
    # The pull failure is filed under fx-middle; its parent fx-base never finished exporting.
    bake.log, bake.code = (BAKE_LOGS / "pull-fails.txt").read_text(), 1
    middle = _request("fx-middle", batch_parents={"reg/fx-base:latest": "fx-base"})
    results = engine.build_batch([_request("fx-base"), middle, _request("fx-solo")])
    assert results["fx-middle"] == engine_mod.TargetResult("fx-middle")
    assert results["fx-base"] == engine_mod.TargetResult("fx-base")
    assert results["fx-solo"].image_id is not None


def test_several_platforms_without_the_containerd_store_fail_before_bake(
    bake: type[FakeBake], engine: Engine
) -> None:
    bake.log, bake.code = "", 0
    bake.metadata = {"fx-solo": {"containerimage.config.digest": "sha256:s"}}
    wide = _request("fx-wide", platforms=("linux/amd64", "linux/arm64"))
    child = _request("fx-child", batch_parents={"reg/fx-wide": "fx-wide"})
    results = engine.build_batch([wide, child, _request("fx-solo")])
    assert isinstance(results["fx-wide"].error, MultiPlatformUnsupportedError)
    assert results["fx-child"] == engine_mod.TargetResult("fx-child")  # its parent cannot build
    assert bake.calls[0]["argv"][-1:] == ["fx-solo"]


class ContainerdDaemon(NoDaemon):
    """A daemon with the containerd image store: it holds images of several platforms."""

    def info(self) -> dict[str, Any]:
        return {"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}


def test_the_containerd_image_store_builds_every_platform_as_one_index(
    bake: type[FakeBake],
) -> None:
    engine = Engine(cast(Any, ContainerdDaemon()), use_buildx=True)
    assert engine.supports_multi_platform()
    bake.log, bake.code = "", 0
    bake.metadata = {
        "fx-wide": {"containerimage.config.digest": "sha256:w"},
        "fx-child": {"containerimage.config.digest": "sha256:c"},
    }
    wide = _request("fx-wide", platforms=("linux/amd64", "linux/arm64"))
    child = _request("fx-child", batch_parents={"reg/fx-wide": "fx-wide"}, platforms=wide.platforms)
    results = engine.build_batch([wide, child])
    assert {i: r.image_id for i, r in results.items()} == {
        "fx-wide": "sha256:w",
        "fx-child": "sha256:c",
    }
    targets = bake.calls[0]["definition"]["target"]
    assert targets["fx-wide"]["platforms"] == ["linux/amd64", "linux/arm64"]  # not narrowed
    assert targets["fx-wide"]["output"] == ["type=docker"]  # loaded: the store holds the index
    assert "attest" not in targets["fx-wide"]  # the local engine attaches no attestations
    assert engine.build(wide) == "sha256:w"  # a lone build too


def _dropped_batch() -> list[BuildRequest]:
    child = _request("fx-child", batch_parents={"reg/fx-solo": "fx-solo"})
    return [_request("fx-solo"), _request("fx-slow", tags=("fx-slow:abc", "fx-slow:key")), child]


@pytest.mark.parametrize(
    ("log", "code"),
    [("client-killed.txt", -9), ("no-such-job.txt", 1), ("plugin-killed.txt", 255)],
)
def test_a_dropped_bake_built_what_it_exported_and_drops_the_rest(
    bake: type[FakeBake], engine: Engine, log: str, code: int
) -> None:
    bake.log, bake.code = (BAKE_LOGS / log).read_text(), code
    results = engine.build_batch(_dropped_batch())
    assert results["fx-solo"].image_id is not None
    assert results["fx-solo"].dropped == ""
    for image in ("fx-slow", "fx-child"):
        assert results[image].image_id is None
        assert results[image].error is None
        assert results[image].dropped
    # Tags are read once before the bake and once after it, in one query each; then the
    # untagged images, for what the dropped bake wrote but never named.
    assert _tags(engine).queries == [
        *[{"reference": ["fx-child:abc", "fx-slow:abc", "fx-slow:key", "fx-solo:abc"]}] * 2,
        {"dangling": ["true"]},
    ]


def test_a_dropped_bake_built_what_it_tagged_even_if_its_log_stopped_first(
    bake: type[FakeBake], engine: Engine
) -> None:
    bake.log, bake.code = (BAKE_LOGS / "plugin-killed.txt").read_text(), 255
    _tags(engine).answers = [
        [{"Id": "sha256:old", "RepoTags": ["fx-slow:abc", "fx-slow:key", "fx-other:1"]}],
        [
            {"Id": "sha256:old", "RepoTags": ["fx-slow:abc", "fx-slow:key"]},
            {"Id": "sha256:child", "RepoTags": ["fx-child:abc"]},
        ],
    ]
    results = engine.build_batch(_dropped_batch())
    # Newly tagged: built. Tagged before and unchanged: not this bake's work, so it goes again.
    assert (results["fx-child"].image_id, results["fx-child"].dropped) == ("sha256:child", "")
    assert results["fx-slow"].image_id is None
    assert results["fx-slow"].dropped.startswith("docker buildx bake exited 255")


def test_a_dropped_bake_takes_back_the_tags_and_images_it_half_made(
    bake: type[FakeBake], engine: Engine
) -> None:
    bake.log, bake.code = (BAKE_LOGS / "plugin-killed.txt").read_text(), 255
    slow = _request("fx-slow", tags=("fx-slow:abc", "fx-slow:key"), labels={"k": "fx-slow-1"})
    stray = {"Id": "sha256:stray", "RepoTags": None, "Labels": {"k": "fx-slow-1", "more": "x"}}
    someone_elses = {"Id": "sha256:other", "RepoTags": None, "Labels": {"k": "fx-slow-0"}}
    _tags(engine).answers = [
        [{"Id": "sha256:old", "RepoTags": ["fx-slow:key", "fx-slow:abc"]}],  # before the bake
        [  # killed after naming one tag of two
            {"Id": "sha256:half", "RepoTags": ["fx-slow:abc"]},
            {"Id": "sha256:old", "RepoTags": ["fx-slow:key"]},
        ],
        [stray, someone_elses],  # untagged images
    ]
    results = engine.build_batch([_request("fx-solo"), slow])
    assert results["fx-slow"].dropped  # not all its tags moved: it builds again
    assert _tags(engine).queries[-1] == {"dangling": ["true"]}
    # The tag it moved points back, and the image it wrote but never (or no longer) named goes.
    assert _tags(engine).tagged == [("sha256:old", "fx-slow", "abc")]
    assert _tags(engine).removed == ["sha256:stray"]


def test_once_a_dropped_image_builds_again_a_late_copy_of_it_is_swept(
    bake: type[FakeBake], engine: Engine
) -> None:
    """The daemon may finish a killed bake's export after its client died; when the image has
    built again, that copy has lost its tags, and it goes."""
    bake.log, bake.code = (BAKE_LOGS / "plugin-killed.txt").read_text(), 255
    slow = _request("fx-slow", tags=("fx-slow:abc",), labels={"k": "fx-slow-1"})
    late = {"Id": "sha256:late", "RepoTags": None, "Labels": {"k": "fx-slow-1"}}
    _tags(engine).answers = [[], [], []]  # before, after, untagged: nothing yet
    assert engine.build_batch([_request("fx-solo"), slow])["fx-slow"].dropped
    bake.log, bake.code = "", 0
    bake.metadata = {"fx-slow": {"containerimage.config.digest": "sha256:new"}}
    _tags(engine).answers = [[], [late]]  # before the second bake; untagged after it
    assert engine.build_batch([slow])["fx-slow"].image_id == "sha256:new"
    assert _tags(engine).removed == ["sha256:late"]
    # Settled: a later bake of it sweeps no more.
    _tags(engine).queries.clear()
    engine.build_batch([slow])
    assert {"dangling": ["true"]} not in _tags(engine).queries


def test_a_lone_dropped_build_raises_the_dropped_error(
    bake: type[FakeBake], engine: Engine
) -> None:
    bake.log = "#1 [internal] load local bake definitions\n#1 DONE 0.0s\n"
    bake.code = -9
    with pytest.raises(BuildDroppedError, match="killed by signal 9"):
        engine.build(_request("fx-solo"))


class _Refusing:
    """A client whose engine cannot start containers (the daemon's own words)."""

    def __init__(self, explanation: str) -> None:
        self.explanation = explanation
        self.containers = self

    def run(self, image: str, **kwargs: Any) -> Any:
        import docker.errors

        raise docker.errors.APIError("500 Server Error", explanation=self.explanation)


@pytest.mark.parametrize(
    "said",
    [
        "failed to create task for container: failed to create shim task: OCI runtime create "
        "failed: runc create failed: unable to start container process: exec: /bin/sleep: "
        "exec format error: unknown",
        "network bridge not found",
    ],
)
def test_a_container_the_engine_cannot_start_is_an_environment_problem(said: str) -> None:
    engine = Engine(cast(Any, _Refusing(said)), use_buildx=False)
    with pytest.raises(ContainerStartError) as caught:
        engine.start_sleeper("fx:1", labels={"a": "b"})
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert caught.value.message == f"a test container of fx:1 could not start: {said}"


class TwoBakes(FakeBake):
    """Answers each bake by its targets: the head start (the root alone) or the batch's."""

    answers: ClassVar[dict[bool, tuple[str, int, dict[str, Any]]]] = {}

    def respond(self, argv: list[str]) -> tuple[str, int, dict[str, Any]]:
        return self.answers[_is_head(argv)]


def _is_head(argv: list[str]) -> bool:
    return argv[argv.index("--progress=plain") + 1 :] == ["fx-root"]


def _deep_batch() -> list[BuildRequest]:
    kids = [
        _request(f"fx-kid-{n}", batch_parents={"reg/fx-root": "fx-root"})
        for n in range(HEAD_START_MIN)
    ]
    return [_request("fx-root"), *kids]


@pytest.fixture
def two_bakes(monkeypatch: pytest.MonkeyPatch) -> type[TwoBakes]:
    TwoBakes.calls = FakeBake.calls = []
    monkeypatch.setattr(subprocess, "Popen", TwoBakes)
    return TwoBakes


def test_a_deep_batch_takes_its_root_from_the_head_start_the_rest_from_its_bake(
    two_bakes: type[TwoBakes], engine: Engine
) -> None:
    kids = {f"fx-kid-{n}": {"containerimage.config.digest": f"sha256:k{n}"} for n in range(6)}
    batch_log = "#9 [fx-root 1/1] COPY busybox /bin/busybox\n#9 DONE 0.1s\n"
    two_bakes.answers = {
        True: (
            "#4 [1/1] COPY busybox /bin/busybox\n",
            0,
            {"fx-root": {"containerimage.config.digest": "sha256:root"}},
        ),
        False: (batch_log, 0, {**kids, "fx-root": {"containerimage.config.digest": "sha256:x"}}),
    }
    steps: list[tuple[str, str]] = []
    results = engine.build_batch(_deep_batch(), lambda image, title: steps.append((image, title)))
    assert sorted(_is_head(c["argv"]) for c in two_bakes.calls) == [False, True]
    assert results["fx-root"].image_id == "sha256:root"
    assert {i: r.image_id for i, r in results.items() if i != "fx-root"} == {
        i: m["containerimage.config.digest"] for i, m in kids.items()
    }
    # The root's steps are reported once, from its own bake.
    assert steps == [("fx-root", "[1/1] COPY busybox /bin/busybox")]


def test_a_root_failing_in_its_head_start_fails_alone_and_its_children_are_not_run(
    two_bakes: type[TwoBakes], engine: Engine
) -> None:
    failed = 'process "/bin/sh -c false" did not complete successfully: exit code: 1'
    head = f"#5 [2/2] RUN false\n#5 ERROR: {failed}\nERROR: failed to solve: {failed}\n"
    batch = (
        f"#7 [fx-root 2/2] RUN false\n#7 ERROR: {failed}\n"
        "#8 [fx-kid-0 1/1] COPY marker /etc/marker\n#8 CANCELED\n"
        f"ERROR: failed to solve: {failed}\n"
    )
    two_bakes.answers = {True: (head, 1, {}), False: (batch, 1, {})}
    results = engine.build_batch(_deep_batch())
    error = results["fx-root"].error
    assert isinstance(error, BuildStepError)
    assert "RUN false" in str(error)
    assert all(results[f"fx-kid-{n}"] == engine_mod.TargetResult(f"fx-kid-{n}") for n in range(6))


def test_a_child_failing_in_the_batch_keeps_the_root_its_head_start_built(
    two_bakes: type[TwoBakes], engine: Engine
) -> None:
    failed = 'process "/bin/sh -c false" did not complete successfully: exit code: 1'
    batch = (
        "#7 [fx-kid-0 1/2] COPY marker /etc/marker\n#7 DONE 0.0s\n"
        f"#8 [fx-kid-0 2/2] RUN false\n#8 ERROR: {failed}\n"
        "#9 [fx-kid-1 1/2] COPY marker /etc/marker\n#9 CANCELED\n"
        f"ERROR: failed to solve: {failed}\n"
    )
    root = {"fx-root": {"containerimage.config.digest": "sha256:root"}}
    two_bakes.answers = {True: ("", 0, root), False: (batch, 1, {})}
    results = engine.build_batch(_deep_batch())
    assert results["fx-root"].image_id == "sha256:root"
    # The root was exported (by its head start), so the failure filed under fx-kid-0 is its own.
    assert isinstance(results["fx-kid-0"].error, BuildStepError)
    assert results["fx-kid-1"] == engine_mod.TargetResult("fx-kid-1")  # cancelled: goes again
