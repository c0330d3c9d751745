"""Parse a Dockerfile into stages: ``FROM`` (with ``ARG`` defaults), ``COPY --from``, labels, user.

Only what the automation needs is modelled; the build itself is always BuildKit's (or the classic
builder's) business. Parser directives (``# syntax=``, ``# escape=``), line continuations and
heredocs are understood so that they never confuse what follows.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from . import textfile
from .errors import (
    DockerfileEscapeError,
    DockerfileFromError,
    DockerfileQuotingError,
    InstructionBeforeFromError,
    NoFromError,
)

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.+?)\s*$")
_HEREDOC_RE = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_BRACED_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>.*))?$", re.S)
_BARE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEREDOC_KEYWORDS = {"RUN", "COPY", "ADD"}


@dataclass(frozen=True)
class Instruction:
    """One logical instruction: keyword (upper-case), its arguments as written, first line."""

    keyword: str
    value: str
    line: int


@dataclass(frozen=True)
class Arg:
    """An ``ARG NAME[=default]`` declaration."""

    name: str
    default: str | None
    line: int


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` block of a (possibly multi-stage) Dockerfile."""

    index: int
    base: str  # as written, before ARG substitution
    name: str | None
    platform: str | None
    line: int
    args: tuple[Arg, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    copy_from: tuple[str, ...] = ()  # `COPY --from=` values as written


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile."""

    path: Path
    instructions: tuple[Instruction, ...]
    global_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]
    syntax: str | None = None
    escape: str = "\\"

    @property
    def final(self) -> Stage:
        """The stage that is built when no ``--target`` is given."""
        return self.stages[-1]

    def arg_defaults(self) -> dict[str, str | None]:
        """Every declared ``ARG`` with its default (global ones first, first default wins)."""
        defaults: dict[str, str | None] = {}
        for arg in (*self.global_args, *(a for s in self.stages for a in s.args)):
            if defaults.get(arg.name) is None:
                defaults[arg.name] = arg.default
        return defaults

    def from_scope(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The variables visible to ``FROM`` lines: global ARGs, overridden by build args."""
        scope: dict[str, str] = {}
        for arg in self.global_args:
            default = substitute(arg.default, scope) if arg.default is not None else None
            value = (overrides or {}).get(arg.name, default)
            if value is not None:
                scope[arg.name] = value
        return scope

    def stage_base(self, stage: Stage, overrides: dict[str, str] | None = None) -> str:
        """The image ``stage`` is built from, after ARG substitution (may name an earlier stage)."""
        return substitute(stage.base, self.from_scope(overrides))

    def stage_named(self, name: str) -> Stage | None:
        """The earlier stage called ``name`` (case-insensitive, as BuildKit matches), if any."""
        for stage in self.stages:
            if stage.name and stage.name.lower() == name.lower():
                return stage
        return None

    def base_image(
        self, overrides: dict[str, str] | None = None, stage: Stage | None = None
    ) -> str:
        """The external image under ``stage`` (default: the final one), following stage names."""
        current = stage or self.final
        seen: set[int] = set()
        while True:
            base = self.stage_base(current, overrides)
            parent = self.stage_named(base)
            if parent is None or parent.index >= current.index or parent.index in seen:
                return base
            seen.add(current.index)
            current = parent

    def external_refs(
        self, overrides: dict[str, str] | None = None, *, local: Collection[str] = ()
    ) -> tuple[tuple[str, int], ...]:
        """Every reference to an image outside this Dockerfile, with the line of its ``FROM``:
        stage bases and ``COPY --from`` images, in order, repeats included. Names in ``local``
        are named local contexts (``contexts:`` in image.yml), not images."""
        scope = self.from_scope(overrides)
        found: list[tuple[str, int]] = []
        for stage in self.stages:
            for ref in (
                substitute(stage.base, scope),  # stage_base, without rebuilding the scope
                *(substitute(c, scope) for c in stage.copy_from),
            ):
                if ref.isdigit() or ref.lower() == "scratch" or ref in local:
                    continue
                earlier = self.stage_named(ref)
                if earlier is not None and earlier.index < stage.index:
                    continue
                found.append((ref, stage.line))
        return tuple(found)

    def external_images(
        self, overrides: dict[str, str] | None = None, *, local: Collection[str] = ()
    ) -> tuple[str, ...]:
        """Every image outside this Dockerfile it reads, once each (see :meth:`external_refs`)."""
        return tuple(dict.fromkeys(ref for ref, _ in self.external_refs(overrides, local=local)))


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` that closes the ``${`` opened just before ``start`` (nesting aware)."""
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _expand(name: str, op: str, word: str, scope: dict[str, str]) -> str:
    value = scope.get(name)
    if op == ":-":
        return value if value else substitute(word, scope)
    if op == "-":
        return value if value is not None else substitute(word, scope)
    if op == ":+":
        return substitute(word, scope) if value else ""
    if op == "+":
        return substitute(word, scope) if value is not None else ""
    return value or ""


def substitute(text: str, scope: dict[str, str]) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR:+word}`` (and ``-``/``+``) forms.

    Words may themselves hold variables (``${A:-${B}}``); unknown variables expand to nothing,
    as in the builder.
    """
    if "$" not in text:  # most references name no variable: nothing to expand
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] == "$":
            out.append("$")
            index += 2
            continue
        if char != "$":
            out.append(char)
            index += 1
            continue
        if text.startswith("${", index):
            end = _closing_brace(text, index + 2)
            match = _BRACED_RE.match(text[index + 2 : end]) if end != -1 else None
            if match is None:
                out.append(char)
                index += 1
                continue
            out.append(_expand(match["name"], match["op"] or "", match["word"] or "", scope))
            index = end + 1
            continue
        match = _BARE_RE.match(text, index + 1)
        if match is None:
            out.append(char)
            index += 1
            continue
        out.append(scope.get(match[0]) or "")
        index = match.end()
    return "".join(out)


def _split_words(text: str, path: Path, line: int) -> list[str]:
    if not any(c in text for c in "\"'\\"):  # no quoting: what shlex would do, without shlex
        return text.split()
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        raise DockerfileQuotingError(path=path, line=line, text=text, reason=exc) from exc


def _logical_lines(path: Path, text: str) -> tuple[list[Instruction], dict[str, str], str]:
    """Join continuations, drop comments, swallow heredoc bodies; read parser directives."""
    directives: dict[str, str] = {}
    escape = "\\"
    lines = text.splitlines()
    index = 0
    # Parser directives are only recognised at the very top, before any other line.
    while index < len(lines):
        match = _DIRECTIVE_RE.match(lines[index].strip())
        if not match or match[1].lower() in directives:
            break
        directives[match[1].lower()] = match[2]
        index += 1
    escape = directives.get("escape", escape)
    if escape not in ("\\", "`"):
        raise DockerfileEscapeError(path=path, escape=escape)

    instructions: list[Instruction] = []
    while index < len(lines):
        raw = lines[index]
        start = index + 1
        index += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [stripped]
        while parts[-1].endswith(escape):
            parts[-1] = parts[-1][: -len(escape)].rstrip()
            # Comment and blank lines inside a continuation are dropped; it goes on after them.
            while index < len(lines) and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
            if index == len(lines):
                break
            parts.append(lines[index].strip())
            index += 1
        joined = " ".join(p for p in parts if p)
        keyword, _, value = joined.partition(" ")
        keyword = keyword.upper()
        if keyword in _HEREDOC_KEYWORDS:
            for heredoc in _HEREDOC_RE.finditer(value):
                strip_tabs, delimiter = heredoc[1] == "-", heredoc[3]
                while index < len(lines):
                    body = lines[index]
                    index += 1
                    if (body.lstrip("\t") if strip_tabs else body) == delimiter:
                        break
        instructions.append(Instruction(keyword=keyword, value=value.strip(), line=start))
    return instructions, directives, escape


def _parse_args(inst: Instruction, path: Path) -> list[Arg]:
    args = []
    for word in _split_words(inst.value, path, inst.line):
        name, eq, default = word.partition("=")
        args.append(Arg(name=name, default=default if eq else None, line=inst.line))
    return args


def parse_key_values(inst: Instruction, path: Path) -> dict[str, str]:
    """``LABEL``/``ENV`` pairs: ``k=v k2="v 2"``, or the legacy ``KEY value with spaces``."""
    words = _split_words(inst.value, path, inst.line)
    if words and "=" not in words[0]:  # legacy `LABEL key value with spaces`
        return {words[0]: " ".join(words[1:])}
    pairs = {}
    for word in words:
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


@dataclass
class _StageBuilder:
    """Collects one stage's instructions until the next FROM."""

    index: int
    base: str
    name: str | None
    platform: str | None
    line: int
    args: list[Arg] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    copy_from: list[str] = field(default_factory=list)

    def add(self, inst: Instruction, path: Path) -> None:
        if inst.keyword == "ARG":
            self.args.extend(_parse_args(inst, path))
        elif inst.keyword == "LABEL":
            self.labels.update(parse_key_values(inst, path))
        elif inst.keyword == "ENV":
            self.env.update(parse_key_values(inst, path))
        elif inst.keyword == "USER":
            self.user = inst.value
        elif inst.keyword == "WORKDIR":
            self.workdir = inst.value
        elif inst.keyword in ("COPY", "ADD"):
            for word in _split_words(inst.value, path, inst.line):
                if not word.startswith("--"):
                    break
                if word.startswith("--from="):
                    self.copy_from.append(word.partition("=")[2])

    def build(self) -> Stage:
        return Stage(
            index=self.index,
            base=self.base,
            name=self.name,
            platform=self.platform,
            line=self.line,
            args=tuple(self.args),
            labels=self.labels,
            env=self.env,
            user=self.user,
            workdir=self.workdir,
            copy_from=tuple(self.copy_from),
        )


def _parse_from(inst: Instruction, path: Path, index: int) -> _StageBuilder:
    words = _split_words(inst.value, path, inst.line)
    platform = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--platform="):
            platform = flag.partition("=")[2]
    if len(words) == 3 and words[1].lower() == "as":
        return _StageBuilder(index, words[0], words[2], platform, inst.line)
    if len(words) == 1:
        return _StageBuilder(index, words[0], None, platform, inst.line)
    raise DockerfileFromError(path=path, line=inst.line, value=inst.value)


def parse(path: Path, text: str | None = None) -> Dockerfile:
    """Parse the Dockerfile at ``path`` (or ``text`` read from it)."""
    if text is None:
        text = textfile.read(path)
    instructions, directives, escape = _logical_lines(path, text)
    global_args: list[Arg] = []
    builders: list[_StageBuilder] = []
    for inst in instructions:
        if inst.keyword == "FROM":
            builders.append(_parse_from(inst, path, len(builders)))
        elif builders:
            builders[-1].add(inst, path)
        elif inst.keyword == "ARG":
            global_args.extend(_parse_args(inst, path))
        else:
            raise InstructionBeforeFromError(path=path, line=inst.line, keyword=inst.keyword)
    if not builders:
        raise NoFromError(path=path)
    return Dockerfile(
        path=path,
        instructions=tuple(instructions),
        global_args=tuple(global_args),
        stages=tuple(b.build() for b in builders),
        syntax=directives.get("syntax"),
        escape=escape,
    )
