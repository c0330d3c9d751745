"""The machinery every error shares (exit codes, templates rendered from fields, the catalogue of
concrete classes) and the internal error (exit 1).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from enum import IntEnum
from typing import Any, ClassVar

_MEANINGS = {
    0: "success",
    1: "a bug: an unexpected exception (rerun with FLEET_DEBUG=1 for the traceback); also "
    "Invoke's own refusal of a command line before any task runs (unknown task or flag, a flag "
    "without its value)",
    2: "bad input: unknown image, invalid reference or tag, bad manifest, Dockerfile, setting or "
    "flag value, a malformed kubeconfig or chart; refused before anything changes",
    3: "a needed tool or service is missing: Docker daemon, buildx, git, hadolint, trivy, syft, "
    "helm, act, a kubeconfig, the cluster, a chart registry, or a build secret's variable",
    4: "a build failed, including a base image that cannot be pulled",
    5: "registry unreachable, authentication refused, push rejected",
    6: "verification failed: a pushed tag's digest in the registry differs from the local "
    "image, a pushed index's platform manifest or config does not read back, or `invoke verify` "
    "finds missing what fleet.require asks for",
    7: "an image's structure or pytest checks failed",
    8: "hadolint findings, fleet policy violations, or generated docs out of date",
    9: "a Helm deploy failed (the previous revision is left live) or timed out",
    10: "scan findings at or above --fail-on",
    130: "Ctrl-C",
    143: "terminated (SIGTERM)",
}


class ExitCode(IntEnum):
    """Process exit codes of every task; :attr:`meaning` says what each one means."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    ENVIRONMENT = 3
    BUILD = 4
    REGISTRY = 5
    VERIFY = 6
    TEST = 7
    LINT = 8
    DEPLOY = 9
    SCAN = 10
    INTERRUPTED = 130
    TERMINATED = 143

    @property
    def meaning(self) -> str:
        """What the code tells a user (and the docs' exit-code table)."""
        return _MEANINGS[int(self)]


_FORMATTER = string.Formatter()


def _parts(template: str) -> list[tuple[str, str | None, str | None]]:
    """(literal text, field name, conversion) of each piece of a ``str.format`` template."""
    return [
        (literal, None if name is None else re.split(r"[.\[]", name, maxsplit=1)[0], conversion)
        for literal, name, _, conversion in _FORMATTER.parse(template)
    ]


def _shown(template: str) -> str:
    """``"unknown image {name!r}"`` -> ``"unknown image '<name>'"``."""
    out = []
    for literal, name, conversion in _parts(template):
        out.append(literal)
        if name is not None:
            out.append(f"'<{name}>'" if conversion == "r" else f"<{name}>")
    return "".join(out)


def _pattern(template: str) -> str:
    """A regular expression that every rendering of ``template`` matches in full."""
    out = []
    for literal, name, conversion in _parts(template):
        out.append(re.escape(literal))
        if name is not None:
            out.append("'.*?'" if conversion == "r" else ".*?")
    return "".join(out)


def _rebuild(cls: type[FleetError], fields: dict[str, Any], details: tuple[str, ...]) -> FleetError:
    return cls(details=details, **fields)


class FleetError(Exception):
    """Base of every error this package raises on purpose.

    A concrete class sets ``template`` and ``hint_template`` (``str.format`` strings with named
    fields) and is raised with those fields as keyword arguments. Group bases (no template) set
    the exit code of their section and are never raised themselves.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL
    template: ClassVar[str] = ""
    hint_template: ClassVar[str] = ""

    def __init__(self, *, details: Iterable[str] = (), **fields: Any) -> None:
        cls = type(self)
        if not cls.template:
            raise TypeError(f"{cls.__name__} groups errors; raise one of its concrete classes")
        expected = cls.field_names()
        if set(fields) != expected:
            raise TypeError(
                f"{cls.__name__} takes the fields {sorted(expected)}, got {sorted(fields)}"
            )
        self.fields = fields
        self.message = cls.template.format(**fields)
        self.hint = cls.hint_template.format(**fields)
        self.details = tuple(details)  # context lines shown between error and hint (a log tail)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.fields, self.details)

    @classmethod
    def is_concrete(cls) -> bool:
        """Whether the class is raised itself (it has a template), not only a group base."""
        return bool(cls.template)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The keyword arguments the message and hint templates need."""
        return frozenset(
            name
            for template in (cls.template, cls.hint_template)
            for _, name, _ in _parts(template)
            if name is not None
        )

    @classmethod
    def shown(cls) -> tuple[str, str]:
        """(message, hint) with ``<field>`` placeholders, as the error reference shows them."""
        return _shown(cls.template), _shown(cls.hint_template)

    @classmethod
    def patterns(cls) -> tuple[str, str]:
        """(message, hint) regular expressions that the printed texts match in full."""
        return _pattern(cls.template), _pattern(cls.hint_template)


def catalogue() -> list[type[FleetError]]:
    """Every concrete error class, ordered by exit code, then name."""
    found: set[type[FleetError]] = set()
    pending: list[type[FleetError]] = [FleetError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return sorted((c for c in found if c.is_concrete()), key=lambda c: (c.exit_code, c.__name__))


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "2026-01-01T00:00:00Z<TAB>FATAL<TAB>Fatal error<TAB>…" (trivy), "[0000] ERROR …" (syft)
_LOG_PREFIX_RE = re.compile(r"^(?:\S+Z\s+[A-Z]+\s+(?:Fatal error\s+)?|\[\d+\]\s+[A-Z]+\s+)")


def last_line(text: str, default: str = "no output", *, limit: int | None = None) -> str:
    """The line of a tool's output worth quoting in an error: the last one with words in it.

    Colours, trivy/syft log prefixes and list bullets are dropped; ``default`` when none is left;
    at most ``limit`` characters.
    """
    for raw in reversed(text.splitlines()):
        line = _LOG_PREFIX_RE.sub("", _ANSI_RE.sub("", raw).strip()).lstrip("* ").strip()
        if line:
            return line[:limit]
    return default


# -- internal: 1 ---------------------------------------------------------------------------------


class InternalError(FleetError):
    """An exception nobody expected: a bug."""

    template = "unexpected {kind}: {error}"
    hint_template = "this is a bug: rerun with FLEET_DEBUG=1 for the traceback; report it"


__all__ = ["ExitCode", "FleetError", "InternalError", "catalogue", "last_line"]
