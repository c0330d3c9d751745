from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet.engine import BuildRequest, _BuildLog, _buildx_failure, classify_push_error
from imagefleet.errors import (
    BaseImagePullError,
    BuildStepError,
    PushRejectedError,
    RegistryAuthError,
    TransientRegistryError,
)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # Messages as Docker Engine 26 reports them in the push stream.
        ("received unexpected HTTP status: 503 Service Unavailable", TransientRegistryError),
        ("received unexpected HTTP status: 500 Internal Server Error", TransientRegistryError),
        (
            'Put "http://localhost:5000/v2/x/blobs/uploads/": dial tcp 127.0.0.1:5000: connect: '
            "connection refused",
            TransientRegistryError,
        ),
        (
            "read tcp 127.0.0.1:5555->127.0.0.1:5000: read: connection reset by peer",
            TransientRegistryError,
        ),
        ("net/http: TLS handshake timeout", TransientRegistryError),
        ("blob unknown: blob unknown to registry", TransientRegistryError),
        ("toomanyrequests: You have reached your pull rate limit", TransientRegistryError),
        ("unauthorized: authentication required", RegistryAuthError),
        ("denied: requested access to the resource is denied", RegistryAuthError),
        ("no basic auth credentials", RegistryAuthError),
        ("manifest invalid: manifest invalid", PushRejectedError),
        ("name invalid: repository name not known", PushRejectedError),
        ("something nobody has seen before", PushRejectedError),
    ],
)
def test_push_errors_are_classified(message: str, kind: type[Exception]) -> None:
    assert issubclass(classify_push_error(message), kind)


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


def _log(text: str) -> _BuildLog:
    log = _BuildLog()
    for line in text.splitlines():
        log.feed(line)
    return log


def test_failed_step_names_step_and_shows_its_last_lines() -> None:
    error = _buildx_failure(REQUEST, _log(STEP_FAILED))
    assert type(error) is BuildStepError
    assert 'at step [3/3] RUN echo "about to fail' in error.message
    assert "exit code: 1" in error.message
    assert "0.215 about to fail: fixture-marker-42" in error.details


def test_unpullable_base_is_named() -> None:
    error = _buildx_failure(REQUEST, _log(PULL_FAILED))
    assert isinstance(error, BaseImagePullError)
    assert "base image 127.0.0.1:1/fleet/missing-base:1.0 cannot be pulled" in error.message
    assert "connection refused" in error.message


def test_step_titles_are_reported_once() -> None:
    log = _BuildLog()
    assert log.feed("#5 [1/3] COPY a b") == "[1/3] COPY a b"
    assert log.feed("#5 [1/3] COPY a b") is None
    assert log.feed("#5 DONE 0.1s") is None
