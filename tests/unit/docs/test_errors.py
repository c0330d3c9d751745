"""The error reference: templates read from the raise sites, and quoted messages that match them."""

from __future__ import annotations

import re

from imagefleet.docs import errors
from imagefleet.errors import ExitCode
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


def test_the_error_catalogue_reads_templates_from_raise_sites() -> None:
    messages = {(m.error, m.message): m for m in errors.error_catalog()}
    unknown = messages["UnknownImageError", "unknown image '<name>'"]
    assert unknown.exit_code == ExitCode.USAGE
    assert unknown.module == "imagefleet.catalog"
    assert unknown.matches("unknown image 'helm-deplyo'", "did you mean helm-deploy?")
    assert not unknown.matches("unknown image helm-deplyo")
    # Module constants are resolved: hadolint's timeout is a number, not a placeholder.
    assert any(re.fullmatch(r"hadolint did not finish in \d+s", m) for _, m in messages)
    # Optional parts of a message are marked, and matched either way.
    failed = next(
        m for (e, _), m in messages.items() if e == "BuildError" and "skipped" in m.message
    )
    assert "[; <n> skipped (<skipped>)]" in failed.message
    assert failed.matches("2 of 5 images failed (a, b)")
    assert failed.matches("1 of 3 images failed (a); 1 skipped (b)")


def test_the_page_takes_its_messages_from_the_caller() -> None:
    """``errors_page`` renders whatever catalogue it is given (the page does not read source)."""
    message = errors.ErrorMessage(
        error="DocsError",
        exit_code=int(ExitCode.LINT),
        module="imagefleet.docs.drift",
        message="<n> generated file(s) out of date: <drift>",
        hint="run `invoke docs`",
        pattern=".*",
    )
    page = errors.errors_page([message])
    section = page.split(f"## Exit code {int(ExitCode.LINT)}: lint\n", 1)[1]
    assert "`DocsError` from `imagefleet.docs.drift`" in section
    assert "error: <n> generated file(s) out of date: <drift>\nhint: run `invoke docs`" in section
    assert f"| [{int(ExitCode.LINT)}](#exit-code-{int(ExitCode.LINT)}-lint) |" in page
