"""Push-stream messages, as Docker Engine reports them, mapped to the error that says what to do."""

from __future__ import annotations

import pytest

from imagefleet.errors import (
    PushHostUnknownError,
    PushNoSpaceError,
    PushReadOnlyError,
    PushRejectedError,
    RegistryAuthError,
    TransientRegistryError,
)
from imagefleet.pusherrors import classify_push_error


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


def test_hint_follows_the_kind() -> None:
    def hint(message: str) -> str:
        return classify_push_error(message)(reference="r:t", reason=message).hint

    assert "docker login" in hint("unauthorized: authentication required")
    assert "reachable" in hint("received unexpected HTTP status: 503 Service Unavailable")
    assert "refused the image" in hint("manifest invalid: manifest invalid")


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            'Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid on '
            "10.0.0.53:53: no such host",
            PushHostUnknownError,
        ),
        ("received unexpected HTTP status: 405 Method Not Allowed", PushReadOnlyError),
        ("unsupported: registry is in read-only mode", PushReadOnlyError),
        ("received unexpected HTTP status: 507 Insufficient Storage", PushNoSpaceError),
        ("write /var/lib/registry/x: no space left on device", PushNoSpaceError),
        ("denied: quota exceeded for repository team/app", PushNoSpaceError),
        ("received unexpected HTTP status: 403 Forbidden", RegistryAuthError),
        ("received unexpected HTTP status: 401 Unauthorized", RegistryAuthError),
    ],
)
def test_failures_that_are_not_transient_are_not_retried(
    message: str, kind: type[Exception]
) -> None:
    found = classify_push_error(message)
    assert issubclass(found, kind)
    assert not issubclass(found, TransientRegistryError)
