"""What a failed push means: Docker's push-stream messages (and a connection that found no
address) mapped to the typed registry error (retry, log in, or give up); each error class carries
its own hint."""

from __future__ import annotations

import re
import socket

from .errors import (
    PushAuthError,
    PushHostUnknownError,
    PushNoSpaceError,
    PushReadOnlyError,
    PushRejectedError,
    PushTransientError,
    RegistryError,
)

# Registry failures worth another try, as they appear in Docker's push stream.
_TRANSIENT = re.compile(
    r"5\d\d |status: 5\d\d|server error|service unavailable|bad gateway|gateway time-?out|"
    r"connection refused|connection reset|broken pipe|i/o timeout|timeout|timed out|"
    r"unknown blob|blob upload unknown|blob unknown|unexpected eof|\beof\b|tls handshake|"
    r"temporary failure|too many requests|toomanyrequests",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"unauthorized|authentication required|access (to the resource is )?denied|requested access|"
    r"no basic auth credentials|forbidden|insufficient_scope|denied:",
    re.IGNORECASE,
)
# Not transient, however they are worded: each retry would fail the same way, slowly.
_UNRESOLVED = re.compile(
    r"no such host|name or service not known|nodename nor servname|could not resolve host",
    re.IGNORECASE,
)
_READ_ONLY = re.compile(
    r"\b405\b|method not allowed|read[- ]only|readonly|registry is in maintenance", re.IGNORECASE
)
# Out of space or over quota: checked before the 5xx rule, for a 507 is no passing failure.
_NO_SPACE = re.compile(
    r"\b507\b|insufficient storage|no space left|quota exceeded|over quota|disk quota",
    re.IGNORECASE,
)
_REJECTED = re.compile(
    r"manifest invalid|manifest_invalid|name invalid|tag invalid|unsupported", re.IGNORECASE
)


# First match wins: the specific, non-transient kinds before the broad 5xx/reset rule.
_KINDS: tuple[tuple[re.Pattern[str], type[RegistryError]], ...] = (
    (_READ_ONLY, PushReadOnlyError),
    (_NO_SPACE, PushNoSpaceError),
    (_REJECTED, PushRejectedError),
    (_AUTH, PushAuthError),
    (_UNRESOLVED, PushHostUnknownError),
    (_TRANSIENT, PushTransientError),
)


def classify_push_error(message: str) -> type[RegistryError]:
    """Map an error from Docker's push stream to the error type that says what to do about it."""
    for pattern, kind in _KINDS:
        if pattern.search(message):
            return kind
    return PushRejectedError


def unresolved(exc: BaseException) -> bool:
    """Whether a connection failed because the host name has no address (no retry helps)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__name__ == "NameResolutionError" or isinstance(current, socket.gaierror):
            return True
        # requests wraps urllib3's MaxRetryError (in args), which holds the cause (in reason).
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        for linked in (reason, current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return bool(re.search(r"Failed to resolve|Name or service not known", str(exc)))
