"""User text is data: descriptions, Dockerfile lines and build logs print as written."""

from __future__ import annotations

import ast
import io
import logging
import re
from pathlib import Path

import pytest
from rich.console import Console

from imagefleet import console

SRC = Path(__file__).resolve().parents[2] / "src" / "imagefleet"
USER_TEXT = "Says [/bold] [red]x[/] :smile: [link=http://x]y[/link] hello"
# Calls whose string argument rich reads as markup.
_MARKUP_CALLS = {"info", "print"}


def _recording(monkeypatch: pytest.MonkeyPatch, name: str, *, terminal: bool) -> io.StringIO:
    buffer = io.StringIO()
    fake = Console(file=buffer, force_terminal=terminal, width=200, highlight=False, emoji=False)
    monkeypatch.setattr(console, name, fake)
    return buffer


def test_consoles_do_not_read_emoji_codes() -> None:
    for c in (console.err, console.out):
        c.begin_capture()
        c.print("a :smile: b")
        assert c.end_capture() == "a :smile: b\n"


@pytest.mark.parametrize("terminal", [True, False])
def test_table_cells_are_literal(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    buffer = _recording(monkeypatch, "out", terminal=terminal)
    console.table("images", ("image", "description"), [("fx", USER_TEXT)])
    assert USER_TEXT in _plain(buffer.getvalue())


@pytest.mark.parametrize("terminal", [True, False])
def test_lines_are_literal(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    buffer = _recording(monkeypatch, "out", terminal=terminal)
    console.lines([f"label description={USER_TEXT}"])
    assert f"label description={USER_TEXT}" in _plain(buffer.getvalue())


def test_error_message_details_and_hint_are_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagefleet.errors import BuildFailedError

    buffer = _recording(monkeypatch, "err", terminal=False)
    exc = BuildFailedError(image=USER_TEXT, reason=USER_TEXT, details=[f"#5 RUN {USER_TEXT}"])
    console.error(exc)
    printed = buffer.getvalue()
    assert f"error: {exc.message}" in printed
    assert f"  #5 RUN {USER_TEXT}" in printed
    assert "hint: " in printed


def test_build_progress_lines_are_literal_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = _recording(monkeypatch, "err", terminal=False)
    with console.working(f"build {USER_TEXT}") as step:
        step(f"#7 RUN echo {USER_TEXT}")
    printed = buffer.getvalue()
    assert f"build {USER_TEXT} …" in printed
    assert f"build {USER_TEXT} #7 RUN echo {USER_TEXT}" in printed


def test_build_progress_lines_are_literal_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.progress import Progress, TextColumn

    buffer = io.StringIO()
    live = Console(file=buffer, force_terminal=True, width=200, emoji=False)
    with Progress(TextColumn("{task.description}", markup=False), console=live) as progress:
        step = console.Step(progress, f"build {USER_TEXT}")
        step(f"#7 RUN echo {USER_TEXT}")
        progress.refresh()
    assert f"build {USER_TEXT} #7 RUN echo {USER_TEXT}" in _plain(buffer.getvalue())
    # the board builds its live line the same way
    source = (SRC / "console.py").read_text()
    assert 'TextColumn("{task.description}", markup=False)' in source


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def _literal(node: ast.expr) -> bool:
    """Our own text: a string constant, or a choice between such."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.IfExp):
        return _literal(node.body) and _literal(node.orelse)
    return False


def _own_names(tree: ast.Module) -> set[str]:
    """Names only ever bound to our own text (``verb = "wrote" if … else "removed"``)."""
    bound: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound[target.id] = bound.get(target.id, True) and _literal(node.value)
    return {name for name, own in bound.items() if own}


def _unescaped_values(path: Path) -> list[str]:
    """Values put into a markup string (an f-string given to ``console.info`` or ``*.print``)
    without ``escape(...)``: numbers (with a format spec), ``len(...)`` and names bound only to
    our own string constants are fine."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    own = _own_names(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in _MARKUP_CALLS or not node.args:
            continue
        if any(k.arg == "markup" for k in node.keywords):
            continue
        for value in ast.walk(node.args[0]):
            if not isinstance(value, ast.FormattedValue) or value.format_spec is not None:
                continue
            inner = value.value
            if isinstance(inner, ast.Name) and inner.id in own:
                continue
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id in {"escape", "len"}
            ):
                continue
            found.append(f"{path.name}:{value.lineno}: {ast.unparse(inner)}")
    return found


def test_every_value_in_a_markup_string_is_escaped() -> None:
    # The kind, not the example: any text put into a string that rich reads as markup is escaped,
    # so `[/bold]` in a description, a Dockerfile line or a flag value never breaks a run.
    offenders = [hit for path in sorted(SRC.rglob("*.py")) for hit in _unescaped_values(path)]
    assert offenders == []


def test_the_guard_finds_an_unescaped_value(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'verb = "wrote"\n'
        'console.info(f"[green]{verb}[/] {escape(a)} {len(b)} {n:d}")\n'
        'console.info(f"[green]ok[/] {description}")\n'
        "console.out.print(f'{name}', markup=False)\n"
    )
    assert _unescaped_values(sample) == ["sample.py:3: description"]


def test_build_secrets_are_masked_once_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_MASKED", set())
    monkeypatch.setenv("FX_MASKED_TOKEN", "tok-123")
    monkeypatch.setenv("FX_EMPTY_TOKEN", "")
    assert console.redact("log: tok-123") == "log: tok-123"
    console.mask(["FX_MASKED_TOKEN", "FX_EMPTY_TOKEN", "FX_UNSET_TOKEN"])
    assert console.redact("log: tok-123, again tok-123") == "log: ***, again ***"


def test_a_board_shows_nothing_before_its_first_line(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = _recording(monkeypatch, "err", terminal=True)
    with console.board() as board:
        assert buffer.getvalue() == ""
        assert board._progress is None  # no live display yet
        with board.step("build fx-app") as step:
            step("RUN make")
            assert board._progress is not None
            assert board._progress.live.is_started
        live = board._progress
    assert not live.live.is_started  # stopped with the board


def test_a_board_without_a_terminal_prints_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = _recording(monkeypatch, "err", terminal=False)
    with console.board() as board, board.step("build fx-app") as step:
        step("RUN make")
    assert board._progress is None
    assert buffer.getvalue().splitlines()[:2] == [
        "build fx-app …",
        "  build fx-app RUN make  +0.0s",
    ]


def test_the_package_logs_through_rich_once_something_is_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = _recording(monkeypatch, "err", terminal=False)
    logger = logging.getLogger("imagefleet")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setenv("FLEET_SECRET_FOR_TEST", "hunter22")
    console.mask(["FLEET_SECRET_FOR_TEST"])
    console.setup_logging()
    console.setup_logging()  # once only
    assert len(logger.handlers) == 1
    logger.warning("registry said %s for [bold]x[/] with hunter22", "no")
    assert "registry said no for [bold]x[/] with ***" in buffer.getvalue()
