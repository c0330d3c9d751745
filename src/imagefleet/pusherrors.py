"""What a failed push means: Docker's push-stream messages mapped to the typed registry error
(retry, log in, or give up); each error class carries its own hint."""

from __future__ import annotations

import re

from .errors import PushAuthError, PushRejectedError, PushTransientError, RegistryError

# Registry failures worth another try, as they appear in Docker's push stream.
_TRANSIENT = re.compile(
    r"5\d\d |status: 5\d\d|server error|service unavailable|bad gateway|gateway time-?out|"
    r"connection refused|connection reset|broken pipe|i/o timeout|timeout|timed out|"
    r"unknown blob|blob upload unknown|blob unknown|unexpected eof|\beof\b|tls handshake|"
    r"no such host|temporary failure|too many requests|toomanyrequests",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"unauthorized|authentication required|access (to the resource is )?denied|requested access|"
    r"no basic auth credentials|forbidden|insufficient_scope|denied:",
    re.IGNORECASE,
)
_REJECTED = re.compile(
    r"manifest invalid|manifest_invalid|name invalid|tag invalid|unsupported", re.IGNORECASE
)


def classify_push_error(message: str) -> type[RegistryError]:
    """Map an error from Docker's push stream to the error type that says what to do about it."""
    if _REJECTED.search(message):
        return PushRejectedError
    if _AUTH.search(message):
        return PushAuthError
    if _TRANSIENT.search(message):
        return PushTransientError
    return PushRejectedError
