"""Build output read down to progress titles and the error a failed build raises."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from imagefleet.buildlog import (
    QUIET_STEPS,
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
