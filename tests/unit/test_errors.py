from __future__ import annotations

import ast
import pickle
import re
import string
from pathlib import Path
from typing import Any

import pytest

from imagefleet import errors
from imagefleet.errors import (
    EnvironmentProblem,
    ExitCode,
    FleetError,
    NotBuiltError,
    ScanError,
    ScanFindings,
    UnknownImageError,
    UsageError,
    catalogue,
    last_line,
    require_built,
)

PACKAGE = Path(errors.__file__).resolve().parents[1]  # imagefleet/
ERRORS = PACKAGE / "errors"  # the one home of every error class


def _in_errors(path: Path) -> bool:
    return ERRORS in path.parents


def _subclasses(cls: type[FleetError]) -> set[type[FleetError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


ALL = {
    c.__name__: c for c in _subclasses(FleetError) if c.__module__.startswith("imagefleet.errors.")
}


@pytest.mark.parametrize("cls", catalogue(), ids=lambda c: c.__name__)
def test_every_template_renders_and_matches_its_pattern(cls: type[FleetError]) -> None:
    # Text for every field, except a number where the template formats one (``{timeout:.0f}``).
    numeric = {
        name
        for template in (cls.template, cls.hint_template)
        for _, name, spec, _ in string.Formatter().parse(template)
        if name and spec
    }
    fields: dict[str, Any] = {n: 7.5 if n in numeric else "v" for n in cls.field_names()}
    error = cls(**fields)
    assert error.message == cls.template.format(**fields) == str(error)
    assert error.hint == cls.hint_template.format(**fields)
    assert error.hint, f"{cls.__name__} has no hint"
    pattern, hint_pattern = cls.patterns()
    assert re.fullmatch(pattern, error.message)
    assert re.fullmatch(hint_pattern, error.hint)
    message, hint = cls.shown()
    assert all(f"<{name}>" in message + hint for name in cls.field_names())


def test_shown_uses_placeholders() -> None:
    assert UnknownImageError.shown() == ("unknown image '<name>'", "did you mean <close>?")
    assert errors.MultiPlatformUnsupportedError.shown()[1].startswith(
        'set {"features": {"containerd-snapshotter": true}} in /etc/docker/daemon.json'
    )
    assert errors.TrivyTimeoutError.shown()[0] == "trivy <what> did not finish within <timeout>s"


def test_fields_are_keywords_and_must_all_be_given() -> None:
    error = UnknownImageError(name="helm-deplyo", close="helm-deploy")
    assert error.message == "unknown image 'helm-deplyo'"
    assert error.hint == "did you mean helm-deploy?"
    assert error.exit_code == ExitCode.USAGE
    with pytest.raises(TypeError, match="takes the fields"):
        UnknownImageError(name="x")
    with pytest.raises(TypeError, match="takes the fields"):
        UnknownImageError(name="x", close="y", extra="z")
    with pytest.raises(TypeError):
        UnknownImageError("unknown image 'x'", "hint")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "group", [c for c in ALL.values() if not c.is_concrete()], ids=lambda c: c.__name__
)
def test_group_bases_are_never_raised(group: type[FleetError]) -> None:
    with pytest.raises(TypeError, match="groups errors"):
        group()


def test_details_and_pickling_keep_everything() -> None:
    error = errors.BuildStepError(
        image="fx", step="[1/1] RUN false", reason="exit 1", details=["a"]
    )
    assert error.details == ("a",)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is errors.BuildStepError
    assert (copy.message, copy.hint, copy.details) == (error.message, error.hint, error.details)


def test_catalogue_lists_every_concrete_class_by_exit_code_then_name() -> None:
    listed = catalogue()
    assert set(listed) == {c for c in ALL.values() if c.is_concrete()}
    assert listed == sorted(listed, key=lambda c: (c.exit_code, c.__name__))
    assert ScanFindings in listed
    assert ScanFindings.exit_code == ExitCode.SCAN
    signals = {ExitCode.INTERRUPTED, ExitCode.TERMINATED}  # a signal, not an error class
    assert {c.exit_code for c in listed} >= set(ExitCode) - {ExitCode.OK, *signals}


def test_every_error_class_lives_in_the_errors_package() -> None:
    outside = {
        c for c in _subclasses(FleetError) if not c.__module__.startswith("imagefleet.errors.")
    }
    assert not outside
    for path in sorted(PACKAGE.rglob("*.py")):
        if _in_errors(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                assert not bases & set(ALL) - {"Exception"}, (path, node.name)


def test_exit_codes_mean_something() -> None:
    for code in ExitCode:
        assert code.meaning, code
    assert ScanError.exit_code == ExitCode.ENVIRONMENT
    assert issubclass(ScanError, EnvironmentProblem)
    assert issubclass(NotBuiltError, UsageError)


# -- every raise site goes through the catalogue ---------------------------------------------------


def _calls() -> list[tuple[str, int, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _in_errors(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(PACKAGE.parent).as_posix()
        found += [(rel, n.lineno, n) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    return found


def _name(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _called(node: ast.Call) -> str | None:
    name = _name(node)
    return name if name in ALL else None


def _class_factories() -> set[str]:
    """Functions that return an error class (``classify_push_error``): their calls are raised."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.returns is not None:
                match = re.fullmatch(r"type\[(\w+)\]", ast.unparse(node.returns))
                if match and match[1] in ALL:
                    found.add(node.name)
    return found


def test_every_error_raised_is_concrete_with_keyword_fields() -> None:
    factories = _class_factories()
    assert "classify_push_error" in factories
    for where, line, node in _calls():
        name = _called(node)
        dynamic = isinstance(node.func, ast.Call) and _name(node.func) in factories
        if name is None and not dynamic:
            continue
        site = f"{where}:{line}"
        assert not node.args, f"{site}: positional arguments; pass the template's fields"
        keywords = {k.arg for k in node.keywords}
        assert None not in keywords, f"{site}: **kwargs hides the fields from this check"
        if name is None:
            continue  # e.g. classify_push_error(message)(reference=…, reason=…)
        cls = ALL[name]
        assert cls.is_concrete(), f"{site}: {name} is a group base"
        assert keywords - {"details"} == cls.field_names(), f"{site}: {name} fields"


def test_every_concrete_class_is_used_outside_the_errors_package() -> None:
    names: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if not _in_errors(path):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names.add("NotBuiltError")  # raised by errors.require_built, which every caller uses
    unused = {c.__name__ for c in catalogue()} - names
    assert not unused, f"error classes nothing raises: {sorted(unused)}"


def test_require_built_names_the_image() -> None:
    class Images:
        def image_id(self, ref: str) -> str | None:
            return "sha256:1" if ref == "fx:built" else None

    assert require_built(Images(), "fx:built", "fx") == "sha256:1"
    with pytest.raises(NotBuiltError) as caught:
        require_built(Images(), "fx:abc123", "fx")
    assert caught.value.message == "fx has not been built for this commit (fx:abc123 is missing)"
    assert caught.value.hint == "run `invoke build --image fx` first"
    assert caught.value.exit_code == ExitCode.USAGE


def test_last_line_is_the_line_worth_quoting() -> None:
    assert last_line("first\nfatal: not a git repository\n\n") == "fatal: not a git repository"
    assert last_line("  \n", "(no message)") == "(no message)"
    assert last_line("") == "no output"
    assert last_line("x" * 500, limit=300) == "x" * 300
    assert last_line("\x1b[31m* boom\x1b[0m") == "boom"
