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
from imagefleet.engine import BuildRequest, Engine
from imagefleet.errors import BuildStepError, MultiPlatformUnsupportedError

BAKE_LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "bakelogs"


def _request(image: str, **more: Any) -> BuildRequest:
    return BuildRequest(
        image=image,
        context=Path(f"/p/{image}"),
        dockerfile=Path(f"/p/{image}/Dockerfile"),
        tags=(f"{image}:abc",),
        **more,
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
        self.stdout: Iterator[str] = iter(line + "\n" for line in self.log.splitlines())

    def wait(self) -> int:
        if self.code == 0:
            path = Path(self.argv[self.argv.index("--metadata-file") + 1])
            path.write_text(json.dumps(self.metadata))
        return self.code

    def __enter__(self) -> FakeBake:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        pass


class NoDaemon:
    """The Docker SDK client, for tests that must not need it."""

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


def test_one_bake_call_builds_the_batch(bake: type[FakeBake], engine: Engine) -> None:
    bake.log, bake.code = "", 0
    bake.metadata = {
        "fx-base": {"containerimage.config.digest": "sha256:b"},
        "fx-leaf": {"containerimage.config.digest": "sha256:l"},
    }
    leaf = _request("fx-leaf", batch_parents={"reg/fx-base:latest": "fx-base"})
    results = engine.build_batch([_request("fx-base"), leaf])
    assert [c["argv"][:3] for c in bake.calls] == [["docker", "buildx", "bake"]]
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
