"""The error reference page: every ``error:``/``hint:`` pair the tool can print, by exit code.

:func:`error_catalog` says what the messages are and :func:`errors_page` renders them; only the
catalogue knows where messages come from (today: the raise sites, read from the package's syntax
tree), so another source can replace it without touching the page.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExitCode, FleetError
from . import markdown as md

ERRORS_PAGE = "docs/reference/errors.md"
# The package whose raise sites the catalogue reads: imagefleet/, the parent of this subpackage.
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ErrorMessage:
    """One message the tool can print: ``error: <message>`` / ``hint: <hint>``."""

    error: str  # the class raised
    exit_code: int
    module: str
    message: str  # with <placeholders> for what is filled in at run time
    hint: str
    pattern: str  # a regular expression that the printed message matches
    hint_pattern: str = ".*"

    def matches(self, message: str, hint: str | None = None) -> bool:
        """Whether a printed ``error:`` (and ``hint:``) text, prefixes removed, comes from here."""
        if re.fullmatch(self.pattern, message) is None:
            return False
        return hint is None or re.fullmatch(self.hint_pattern, hint) is not None


def _exit_code_meanings() -> dict[int, str]:
    """The comments beside :class:`ExitCode`'s members: what each code means."""
    source = inspect.getsource(ExitCode)
    meanings: dict[int, str] = {}
    for member in ExitCode:
        match = re.search(rf"^\s+{member.name} = \d+\s+#\s*(.+)$", source, re.M)
        meanings[int(member)] = match[1].strip() if match else member.name.lower().replace("_", " ")
    return meanings


def errors_page(messages: Sequence[ErrorMessage]) -> str:
    """Every error message, grouped by exit code, as the console prints it."""
    meanings = _exit_code_meanings()
    lines = [
        md.NOTE.format(source="the raise sites in src/imagefleet/"),
        "",
        "# Error messages",
        "",
        "Every failure prints one `error:` line and one `hint:` line (a failed build step adds "
        "its last log lines between them) and exits with the code of its class. This page is "
        "generated from the source: each entry is a message template as it is written at the "
        "place that raises it, with `<placeholders>` for what is filled in at run time and "
        "`[…]` around parts that only some cases print. Search it for the text you see. "
        "[Troubleshooting](../operations/troubleshooting.md) explains the common ones.",
        "",
        "## Exit codes",
        "",
        *md.table(
            ("exit code", "meaning", "messages below"),
            (
                (
                    f"[{int(code)}](#exit-code-{int(code)}-{code.name.lower()})"
                    if any(m.exit_code == code for m in messages)
                    else str(int(code)),
                    md.text(meanings[int(code)]),
                    str(sum(m.exit_code == code for m in messages)),
                )
                for code in ExitCode
            ),
        ),
    ]
    for code in sorted({m.exit_code for m in messages}):
        name = ExitCode(code).name.lower() if code in set(ExitCode) else str(code)
        lines += ["", f"## Exit code {code}: {name}", "", md.text(meanings.get(code, "")), ""]
        for m in (m for m in messages if m.exit_code == code):
            lines += [
                f"{md.code(m.error)} from {md.code(m.module)}",
                "",
                "```text",
                f"error: {m.message}",
                *([f"hint: {m.hint}"] if m.hint else []),
                "```",
                "",
            ]
    return md.page(lines)


# -- the catalogue, read from the raise sites in the syntax tree (for now) -------------------------


def error_catalog(package: Path | None = None) -> list[ErrorMessage]:
    """Every literal ``error:``/``hint:`` pair the package can raise, read from its source."""
    package = package or _PACKAGE
    trees = {
        p.relative_to(package.parent).with_suffix("").as_posix().replace("/", "."): ast.parse(
            p.read_text(encoding="utf-8"), filename=str(p)
        )
        for p in sorted(package.rglob("*.py"))
    }
    classes = _error_classes(trees)
    sources = _sources(trees)
    found: dict[tuple[str, str, str], ErrorMessage] = {}
    for module, tree in trees.items():
        source = sources[module]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in classes:
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            message_node = node.args[0] if node.args else keywords.get("message")
            hint_node = node.args[1] if len(node.args) > 1 else keywords.get("hint")
            message = source.render(message_node) if message_node is not None else None
            if message is None or not message[0].strip(" .…"):
                continue  # a message built elsewhere (re-raised or composed at run time)
            hint = source.render(hint_node) if hint_node is not None else ("", "")
            hint = hint or ("…", ".*")
            key = (name, message[0], module)
            found[key] = ErrorMessage(
                error=name,
                exit_code=classes[name],
                module=module,
                message=message[0],
                hint=hint[0],
                pattern=message[1],
                hint_pattern=hint[1],
            )
    return sorted(found.values(), key=lambda e: (e.exit_code, e.module, e.message))


_STR_METHODS = {"removeprefix", "removesuffix", "strip", "rstrip", "lstrip", "lower", "upper"}
_WRAPPERS = {"str", "repr", "sorted", "list", "tuple", "set", "map", "_short", "escape", "redact"}


@dataclass(frozen=True)
class _Source:
    """What message rendering needs to know about the package: constants and module names."""

    constants: Mapping[str, str | int | float]  # UPPER_CASE module-level literals
    modules: frozenset[str]  # names bound by imports (``textwrap``, ``console``, …)

    def hole(self, node: ast.expr, spec: str = "") -> tuple[str, str]:
        """(display, pattern) of what an f-string fills in: ``{request.image}`` → ``<image>``."""
        name = self._name(node)
        if name in self.constants:
            text = format(self.constants[name], spec)
            return text, re.escape(text)
        return f"<{name}>", ".*?"

    def _name(self, node: ast.expr) -> str:
        match node:
            case ast.Name(id=name):
                found = name.strip("_") if name.strip("_") else "value"
                found = name if name in self.constants else found
            case ast.Attribute(attr="__name__", value=ast.Call(func=ast.Name(id="type"))):
                found = "type"
            case ast.Attribute(attr=attr):
                found = attr if attr in self.constants else (attr.strip("_") or "value")
            case ast.Subscript(slice=ast.Constant(value=str() as key)):
                found = key
            case ast.Subscript(value=inner):
                found = self._name(inner)
            case ast.Call(func=ast.Name(id="len")):
                found = "n"
            case ast.Call(func=ast.Name(id=wrapper), args=[*_, last]) if wrapper in _WRAPPERS:
                found = self._name(last)
            case ast.Call(func=ast.Attribute(attr="join"), args=[items]):
                found = self._name(items)
            case ast.Call(func=ast.Attribute(value=ast.Name(id=module)), args=[first, *_]) if (
                module in self.modules
            ):
                found = self._name(first)  # textwrap.shorten(names, …): the argument
            case ast.Call(func=ast.Attribute(value=inner)):
                found = self._name(inner)  # exc.errors(), path.relative_to(root): the object
            case ast.Call(args=[first, *_]):
                found = self._name(first)
            case _:
                found = "value"
        return found

    def fstring(self, node: ast.JoinedStr) -> tuple[str, str]:
        shown, pattern = [], []
        for part in node.values:
            if isinstance(part, ast.Constant):
                shown.append(str(part.value))
                pattern.append(re.escape(str(part.value)))
            elif isinstance(part, ast.FormattedValue):
                spec = part.format_spec
                literal_spec = (
                    "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant))
                    if isinstance(spec, ast.JoinedStr)
                    else ""
                )
                text, regex = self.hole(part.value, literal_spec)
                quoted = part.conversion == ord("r") and text.startswith("<")
                shown.append(f"'{text}'" if quoted else text)
                pattern.append(f"'{regex}'" if quoted else regex)
        return "".join(shown), "".join(pattern)

    def choice(self, node: ast.IfExp) -> tuple[str, str] | None:
        body, orelse = self.render(node.body), self.render(node.orelse)
        if body is None or orelse is None:
            return None
        if not orelse[0]:  # `x if cond else ""`: a part only some cases print
            return f"[{body[0]}]", f"(?:{body[1]})?"
        return f"{body[0]} / {orelse[0]}", f"(?:{body[1]}|{orelse[1]})"

    def render(self, node: ast.expr) -> tuple[str, str] | None:
        """(display text, regular expression) of a message expression; ``None`` if not literal."""
        result: tuple[str, str] | None = None
        match node:
            case ast.Constant(value=str() as text):
                result = text, re.escape(text)
            case ast.JoinedStr():
                result = self.fstring(node)
            case ast.BinOp(op=ast.Add(), left=left, right=right):
                parts = self.render(left), self.render(right)
                if parts[0] is not None and parts[1] is not None:
                    result = parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]
            case ast.IfExp():
                result = self.choice(node)
            case ast.BoolOp(op=ast.Or(), values=values):
                # `getattr(exc, "hint", "") or "fallback"`: show the literal, accept anything.
                literal = [r for r in map(self.render, values) if r is not None and r[0]]
                if literal:
                    result = literal[-1][0], "(?:" + "|".join(p[1] for p in literal) + "|.*)"
        return result


def _assignment(statement: ast.stmt) -> tuple[ast.expr | None, ast.expr | None]:
    """(target, value) of a single-target ``x = …`` or ``x: T = …``; (None, None) otherwise."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return statement.targets[0], statement.value
    if isinstance(statement, ast.AnnAssign):
        return statement.target, statement.value
    return None, None


def _literals(tree: ast.Module) -> dict[str, str | int | float]:
    """A module's UPPER_CASE names bound to a literal at its top level."""
    found: dict[str, str | int | float] = {}
    for statement in tree.body:
        target, value = _assignment(statement)
        if (
            isinstance(target, ast.Name)
            and target.id.isupper()
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str | int | float)
            and not isinstance(value.value, bool)
        ):
            found[target.id] = value.value
    return found


def _sources(trees: Mapping[str, ast.Module]) -> dict[str, _Source]:
    """Per module: its own constants, then the package's (where only one value is bound)."""
    values: dict[str, set[str | int | float]] = {}
    modules: set[str] = set()
    local = {module: _literals(tree) for module, tree in trees.items()}
    for module, tree in trees.items():
        for name, value in local[module].items():
            values.setdefault(name, set()).add(value)
        for imported in ast.walk(tree):
            if isinstance(imported, ast.Import):
                modules.update((a.asname or a.name).split(".")[0] for a in imported.names)
            elif isinstance(imported, ast.ImportFrom):
                modules.update(a.asname or a.name for a in imported.names if a.name.islower())
    shared = {name: next(iter(v)) for name, v in values.items() if len(v) == 1}
    return {
        module: _Source(constants={**shared, **local[module]}, modules=frozenset(modules))
        for module in trees
    }


def _error_classes(trees: Mapping[str, ast.Module]) -> dict[str, int]:
    """Every :class:`FleetError` subclass defined in the package, with its exit code."""
    bases: dict[str, list[str]] = {}
    codes: dict[str, int] = {"FleetError": int(FleetError.exit_code)}
    for tree in trees.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases[node.name] = [
                b.id if isinstance(b, ast.Name) else b.attr
                for b in node.bases
                if isinstance(b, ast.Name | ast.Attribute)
            ]
            for statement in node.body:
                target, value = _assignment(statement)
                if (
                    isinstance(target, ast.Name)
                    and target.id == "exit_code"
                    and isinstance(value, ast.Attribute)
                ):
                    codes[node.name] = int(ExitCode[value.attr])

    def code(name: str, seen: frozenset[str] = frozenset()) -> int | None:
        if name in codes:
            return codes[name]
        for base in bases.get(name, ()):
            if base not in seen and (found := code(base, seen | {name})) is not None:
                return found
        return None

    def is_error(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "FleetError":
            return True
        return any(b not in seen and is_error(b, seen | {name}) for b in bases.get(name, ()))

    return {name: code(name) or 1 for name in [*bases, "FleetError"] if is_error(name)}
