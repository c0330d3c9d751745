"""The error reference: templates from the error classes, and quoted messages that match them."""

from __future__ import annotations

import re

from imagefleet.docs import errors
from imagefleet.errors import ExitCode, catalogue
from tests.helpers import REPO
from tests.unit.docs.helpers import GENERATED_DIRS, GENERATED_PAGES


def test_quoted_error_messages_come_from_the_code() -> None:
    """Every ``error:``/``hint:`` pair in a hand-written page matches a template in the source."""
    messages = errors.error_catalog()
    quoted = 0
    for page in sorted((REPO / "docs").rglob("*.md")):
        rel = page.relative_to(REPO).as_posix()
        if rel.startswith(GENERATED_DIRS) or rel in GENERATED_PAGES:
            continue
        for block in re.findall(r"```text\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            lines = block.splitlines()
            for index, line in enumerate(lines):
                if not line.startswith("error: "):
                    continue
                following = lines[index + 1] if index + 1 < len(lines) else ""
                hint = following.removeprefix("hint: ") if following.startswith("hint: ") else None
                message = line.removeprefix("error: ")
                assert any(m.matches(message, hint) for m in messages), f"{rel}: {line} / {hint}"
                quoted += 1
    assert quoted >= 10


def test_the_error_catalogue_is_every_error_class() -> None:
    messages = {m.error: m for m in errors.error_catalog()}
    assert set(messages) == {cls.__name__ for cls in catalogue()}
    unknown = messages["UnknownImageError"]
    assert unknown.exit_code == ExitCode.USAGE
    assert unknown.message.startswith("unknown image '<name>'")
    assert unknown.summary  # the class docstring says when it is raised
    assert unknown.matches("unknown image 'helm-deplyo'", "did you mean helm-deploy?")
    assert not unknown.matches("unknown image helm-deplyo")
    # The exit-10 message, missing from the reference while it was read from source text.
    assert messages["ScanFindings"].exit_code == ExitCode.SCAN
    # Every exit code a class uses has at least one message on the page.
    page = errors.errors_page(list(messages.values()))
    for cls in catalogue():
        assert f"error: {cls.shown()[0]}" in page, cls.__name__


def test_the_page_takes_its_messages_from_the_caller() -> None:
    """``errors_page`` renders whatever catalogue it is given (the page does not read source)."""
    message = errors.ErrorMessage(
        error="DocsDriftError",
        exit_code=int(ExitCode.LINT),
        summary="Generated files no longer match the code.",
        message="<n> generated file(s) out of date: <drift>",
        hint="run `invoke docs`",
        pattern=".*",
    )
    page = errors.errors_page([message])
    section = page.split(f"## Exit code {int(ExitCode.LINT)}: lint\n", 1)[1]
    assert "`DocsDriftError`: Generated files no longer match the code." in section
    assert "error: <n> generated file(s) out of date: <drift>\nhint: run `invoke docs`" in section
    assert f"| [{int(ExitCode.LINT)}](#exit-code-{int(ExitCode.LINT)}-lint) |" in page
