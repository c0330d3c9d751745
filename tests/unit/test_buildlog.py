"""Build output read down to progress titles and the error a failed build raises."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from imagefleet.buildlog import (
    QUIET_STEPS,
    BakeLog,
    BuildLog,
    buildx_failure,
    classic_failure,
    classic_step,
)
from imagefleet.engine import BuildRequest
from imagefleet.errors import BaseImagePullError, BuildStepError

REQUEST = BuildRequest(image="fx", context=Path(), dockerfile=Path("Dockerfile"), tags=("fx:1",))

# Recorded from `docker buildx build --progress=plain` (buildx 0.13, BuildKit 0.13).
STEP_FAILED = """\
#0 building with "default" instance using docker driver
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#5 [1/3] COPY busybox /bin/busybox
#5 DONE 0.0s
#6 [2/3] RUN ["/bin/busybox", "--install", "-s", "/bin"]
#6 DONE 0.3s
#7 [3/3] RUN echo "about to fail: fixture-marker-42" && false
#7 0.215 about to fail: fixture-marker-42
#7 ERROR: process "/bin/sh -c echo \\"about to fail: fixture-marker-42\\" && false" did not \
complete successfully: exit code: 1
------
 > [3/3] RUN echo "about to fail: fixture-marker-42" && false:
0.215 about to fail: fixture-marker-42
------
ERROR: failed to solve: process "/bin/sh -c echo" did not complete successfully: exit code: 1
"""

PULL_FAILED = """\
#0 building with "default" instance using docker driver
#2 [internal] load metadata for 127.0.0.1:1/fleet/missing-base:1.0
#2 ERROR: failed to do request: Head "https://127.0.0.1:1/v2/fleet/missing-base/manifests/1.0": \
dial tcp 127.0.0.1:1: connect: connection refused
------
 > [internal] load metadata for 127.0.0.1:1/fleet/missing-base:1.0:
------
ERROR: failed to solve: 127.0.0.1:1/fleet/missing-base:1.0: failed to resolve source metadata \
for 127.0.0.1:1/fleet/missing-base:1.0: failed to do request
"""


def _log(text: str) -> BuildLog:
    log = BuildLog()
    for line in text.splitlines():
        log.feed(line)
    return log


def test_failed_step_names_step_and_shows_its_last_lines() -> None:
    error = buildx_failure(REQUEST, _log(STEP_FAILED))
    assert type(error) is BuildStepError
    assert 'at step [3/3] RUN echo "about to fail' in error.message
    assert "exit code: 1" in error.message
    assert "0.215 about to fail: fixture-marker-42" in error.details


def test_unpullable_base_is_named() -> None:
    error = buildx_failure(REQUEST, _log(PULL_FAILED))
    assert isinstance(error, BaseImagePullError)
    assert "base image 127.0.0.1:1/fleet/missing-base:1.0 cannot be pulled" in error.message
    assert "connection refused" in error.message


def test_step_titles_are_reported_once() -> None:
    log = BuildLog()
    assert log.feed("#5 [1/3] COPY a b") == "[1/3] COPY a b"
    assert log.feed("#5 [1/3] COPY a b") is None
    assert log.feed("#5 DONE 0.1s") is None


def test_bookkeeping_steps_are_quiet() -> None:
    log = BuildLog()
    title = log.feed("#1 [internal] load build definition from Dockerfile")
    assert title is not None
    assert title.startswith(QUIET_STEPS)


def test_classic_steps_are_titled_like_buildkit_ones() -> None:
    assert classic_step("Step 2/5 : RUN make") == "[2/5] RUN make"
    assert classic_step(" ---> Running in 0123abcd") is None


def test_classic_failure_at_from_names_the_base_with_its_arg_default() -> None:
    request = BuildRequest(
        image="fx",
        context=Path(),
        dockerfile=Path("Dockerfile"),
        tags=("fx:1",),
        from_scope={"BASE": "registry.invalid/base:1"},
    )
    error = classic_failure(request, "[1/2] FROM ${BASE}", "pull access denied", deque())
    assert isinstance(error, BaseImagePullError)
    assert "base image registry.invalid/base:1 cannot be pulled" in error.message


def test_classic_failure_elsewhere_carries_the_step_tail() -> None:
    error = classic_failure(REQUEST, "[2/2] RUN false", "returned a non-zero code: 1", deque(["x"]))
    assert type(error) is BuildStepError
    assert "at step [2/2] RUN false" in error.message
    assert error.details == ("x",)


# Recorded from `docker buildx bake --progress=plain` (buildx 0.13.1, BuildKit 0.13, docker
# driver): fx-fails fails at its third step, which cancels fx-slow; fx-solo was already exported.
BAKE_LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "bakelogs"
BAKE_TARGETS = frozenset({"fx-fails", "fx-slow", "fx-solo"})


def _bake(name: str, targets: frozenset[str]) -> tuple[BakeLog, list[tuple[str, str]]]:
    log = BakeLog(targets)
    steps = []
    for n, line in enumerate((BAKE_LOGS / name).read_text().splitlines()):
        if found := log.feed(line, now=float(n)):
            steps.append(found)
    return log, steps


def test_bake_steps_are_filed_under_their_target_without_its_name() -> None:
    _, steps = _bake("one-fails.txt", BAKE_TARGETS)
    assert ("fx-fails", '[3/3] RUN echo "about to fail: fixture-marker-42" && false') in steps
    assert ("fx-slow", "[3/3] RUN echo slow-start && sleep 4 && echo slow-end") in steps
    assert ("fx-solo", "[internal] load build definition from Dockerfile") in steps
    assert not any(target == "internal" for target, _ in steps)  # bake's own lines
    assert len(steps) == len(set(steps))


def test_bake_log_knows_what_was_exported_failed_and_cancelled() -> None:
    log, _ = _bake("one-fails.txt", BAKE_TARGETS)
    assert log.exported == {
        "fx-solo": "sha256:1f39ae197f8cfb26885555e2593919a3aa8913e98979fb258ca8581f1f7c1951"
    }
    assert log.failed("fx-fails")
    assert not log.failed("fx-slow")  # CANCELED, not an error of its own
    assert not log.failed("fx-solo")
    assert "fx-slow" not in log.exported
    assert log.first_seen["fx-solo"] < log.last_seen["fx-solo"]


def test_a_sibling_step_cancelled_with_an_error_line_did_not_fail() -> None:
    # Seen in CI: the cancelled sibling's step printed an ERROR line of its own.
    log = BakeLog(frozenset({"fx-fails", "fx-leaky"}))
    for line in (
        "#7 [fx-fails 2/2] RUN false",
        "#8 [fx-leaky 2/2] COPY credentials /etc/fleet/credentials",
        '#7 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
        "#8 ERROR: context canceled",
    ):
        log.feed(line)
    assert log.failed("fx-fails")
    assert not log.failed("fx-leaky")  # it goes again in a new batch


def test_bake_failure_of_one_target_is_its_step_and_its_lines() -> None:
    log, _ = _bake("one-fails.txt", BAKE_TARGETS)
    error = buildx_failure(REQUEST, log.logs["fx-fails"])
    assert type(error) is BuildStepError
    assert 'at step [3/3] RUN echo "about to fail' in error.message
    assert "0.298 about to fail: fixture-marker-42" in error.details
    assert not any("slow" in line for line in error.details)


def test_bake_pull_failure_names_the_base() -> None:
    targets = frozenset({"fx-base", "fx-middle", "fx-leaf-a", "fx-leaf-b", "fx-solo"})
    log, _ = _bake("pull-fails.txt", targets)
    assert [t for t in sorted(targets) if log.failed(t)] == ["fx-middle"]
    error = buildx_failure(REQUEST, log.logs["fx-middle"])
    assert isinstance(error, BaseImagePullError)
    assert "base image localhost:5000/fleet/fx-base:latest cannot be pulled" in error.message


def test_bake_of_a_family_exports_every_target() -> None:
    targets = frozenset({"fx-base", "fx-middle", "fx-leaf-a", "fx-leaf-b", "fx-solo"})
    log, steps = _bake("family.txt", targets)
    assert set(log.exported) == targets
    assert all(image and image.startswith("sha256:") for image in log.exported.values())
    # Multi-stage titles keep their stage name after the target's.
    assert any(t == "fx-leaf-b" and s.startswith("[stage-0 1/3] COPY --from=") for t, s in steps)


def test_a_bake_of_one_target_names_none_and_is_still_read() -> None:
    # A bake of a single target prints like `buildx build`: no target in the titles.
    log = BakeLog(frozenset({"fx-plain"}))
    lines = [*STEP_FAILED.splitlines(), "#9 exporting to image", "#9 DONE 0.1s"]
    steps = [found for line in lines if (found := log.feed(line))]
    assert ("fx-plain", '[3/3] RUN echo "about to fail: fixture-marker-42" && false') in steps
    assert log.exported == {"fx-plain": None}
    error = buildx_failure(REQUEST, log.logs["fx-plain"])
    assert "0.215 about to fail: fixture-marker-42" in error.details
    assert BakeLog(frozenset({"fx-plain"})).feed("#1 [internal] load local bake definitions") == (
        "fx-plain",
        "[internal] load local bake definitions",
    )
    assert "[internal] load local bake definitions".startswith(QUIET_STEPS)


# Recorded the same way: a bake of fx-solo, fx-slow and fx-child (on fx-solo) whose client was
# SIGKILLed once fx-solo was exported: `docker` itself (buildx then reports the lost session), or
# its buildx plugin (the output just stops; `docker` exits 255). no-such-job.txt is
# client-killed.txt ending the way BuildKit ends a bake it lost.
DROP_TARGETS = frozenset({"fx-solo", "fx-slow", "fx-child"})


@pytest.mark.parametrize(
    ("name", "code", "why"),
    [
        ("client-killed.txt", -9, "docker buildx bake was killed by signal 9"),
        ("client-killed.txt", 1, "failed to solve: Canceled: context canceled"),
        (
            "no-such-job.txt",
            1,
            "failed to receive status: rpc error: code = NotFound desc = no such job",
        ),
        (
            "plugin-killed.txt",
            255,
            "docker buildx bake exited 255 without an error (its client was killed)",
        ),
    ],
)
def test_a_bake_that_ends_with_no_target_failing_was_dropped(
    name: str, code: int, why: str
) -> None:
    log, _ = _bake(name, DROP_TARGETS)
    assert log.dropped(code) == why
    assert set(log.exported) == {"fx-solo"}
    assert not any(log.failed(t) for t in DROP_TARGETS)


def test_a_bake_with_a_failing_target_or_its_own_error_was_not_dropped() -> None:
    failed, _ = _bake("one-fails.txt", BAKE_TARGETS)
    assert failed.dropped(1) == ""
    # A killed client's last words prove nothing either way: the retry finds a real failure.
    assert failed.dropped(-9) == "docker buildx bake was killed by signal 9"
    assert _bake("client-killed.txt", DROP_TARGETS)[0].dropped(0) == ""
    own = BakeLog(DROP_TARGETS)
    own.feed("ERROR: failed to find target fx-nope")
    assert own.dropped(1) == ""
    silent = BakeLog(DROP_TARGETS)
    assert silent.dropped(1) == ""  # e.g. `docker: 'buildx' is not a docker command`
    assert silent.dropped(255) != ""


def test_steps_the_lost_session_took_down_name_no_failing_target() -> None:
    # Seen when the client is killed while BuildKit reads build contexts through its session.
    log = BakeLog(DROP_TARGETS)
    for line in (
        "#5 [fx-slow 3/3] RUN sleep 8",
        "#5 ERROR: context canceled",
        "#6 [fx-child internal] load build context",
        "#6 ERROR: rpc error: code = Unavailable desc = error reading from server: EOF",
        "#7 [fx-solo internal] load .dockerignore",
        "#7 ERROR: rpc error: code = Unavailable desc = transport is closing",
        "ERROR: failed to solve: Canceled: context canceled",
    ):
        log.feed(line)
    assert log.dropped(1) == "failed to solve: Canceled: context canceled"
