"""Running an image's tests: a container that cannot start is the machine's problem (exit 3, the
engine's words), never a failing test."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from imagefleet import testing
from imagefleet.errors import ContainerStartError, ExitCode

EXEC_FORMAT = (
    "failed to create task for container: failed to create shim task: OCI runtime create failed: "
    "runc create failed: unable to start container process: exec: /bin/sleep: exec format error"
)


def _cst_report(*cases: tuple[str, str | None]) -> str:
    """A JUnit report as container-structure-test writes it: (name, failure text or None)."""
    body = "".join(
        f'<testcase name="{name}" time="0.1">'
        + (f"<failure>{failure}</failure>" if failure else "")
        + "</testcase>"
        for name, failure in cases
    )
    failed = sum(1 for _, f in cases if f)
    return (
        f'<?xml version="1.0"?><testsuites failures="{failed}" tests="{len(cases)}">'
        f'<testsuite name="container-structure-test.test">{body}</testsuite></testsuites>'
    )


def _fake_cst(monkeypatch: pytest.MonkeyPatch, report_xml: str) -> None:
    def run(ref: str, configs: Any, report: Path, **_: Any) -> subprocess.CompletedProcess[str]:
        report.write_text(report_xml)
        return subprocess.CompletedProcess([], 1, "", "")

    monkeypatch.setattr(testing, "_run_cst", run)


def _suite(tmp_path: Path, kind: testing.Kind, *files: Path) -> testing.Suite:
    return testing.Suite("fx", kind, files or (tmp_path / "structure.yaml",))


@pytest.mark.parametrize(
    "failure",
    [
        f"Error creating container: API error (500): {EXEC_FORMAT}",
        "error running command: Error creating container: API error (404): network bridge not "
        "found",
    ],
)
def test_a_structure_container_that_cannot_start_is_exit_3_with_the_engine_s_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    _fake_cst(monkeypatch, _cst_report(("Command Test: sh", failure), ("File Existence", None)))
    with pytest.raises(ContainerStartError) as caught:
        testing.run_structure("fx:1", _suite(tmp_path, "structure"), tmp_path / "r.xml")
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    reason = failure.split("Error creating container: ", 1)[1]
    assert caught.value.message == f"a test container of fx:1 could not start: {reason}"


@pytest.mark.parametrize(
    "failure",
    [
        "Expected string 'deploy' not found",
        # The image lacks the tool a command test runs: exactly what the check is for.
        "Error creating container: API error (400): failed to create task for container: OCI "
        'runtime create failed: unable to start container process: exec: "helm": executable '
        "file not found in $PATH: unknown",
    ],
)
def test_a_failing_structure_check_is_still_a_failing_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    _fake_cst(monkeypatch, _cst_report(("Command Test: user", failure), ("f", None)))
    passed, failures = testing.run_structure(
        "fx:1", _suite(tmp_path, "structure"), tmp_path / "r.xml"
    )
    assert (passed, failures) == (1, ("Command Test: user",))


def test_a_pytest_container_that_cannot_start_is_exit_3_not_failing_tests(tmp_path: Path) -> None:
    # A stand-in engine (overriding the plugin's fixture) that refuses, as the daemon does.
    tests = tmp_path / "tests"
    tests.mkdir()
    module = tests / "test_stand_in.py"
    module.write_text(
        textwrap.dedent(
            f"""
            import pytest
            from imagefleet.errors import ContainerStartError

            class NoStart:
                def start_sleeper(self, image, *, labels):
                    raise ContainerStartError(ref=image, reason={EXEC_FORMAT!r})

            @pytest.fixture(scope="session")
            def engine():
                return NoStart()

            def test_one(container):
                assert container.exec("true").exit_code == 0

            def test_two(container):
                assert container.exec("true").exit_code == 0
            """
        )
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    suite = _suite(tmp_path, "pytest", module)
    with pytest.raises(ContainerStartError) as caught:
        testing._pytest("fx:1", suite, scratch / "fx.xml", "session", scratch)
    assert caught.value.message == f"a test container of fx:1 could not start: {EXEC_FORMAT}"
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


def test_the_test_task_says_exit_3_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoke.config import Config
    from invoke.context import Context
    from invoke.exceptions import Exit

    from imagefleet import engine
    from imagefleet.tasks import publish
    from tests.helpers import make_project

    class Built:
        def image_id(self, ref: str) -> str:
            return "sha256:" + "0" * 64

    def refuse(*args: Any, **kwargs: Any) -> list[testing.SuiteResult]:
        raise ContainerStartError(ref="fx-hello:x", reason=EXEC_FORMAT)

    root = make_project(tmp_path / "project", with_busybox=False)
    monkeypatch.setattr(engine.Engine, "connect", classmethod(lambda cls, builder: Built()))
    monkeypatch.setattr(testing, "run", refuse)
    context = Context(Config(overrides={"fleet": {"root": str(root)}}))
    with pytest.raises(Exit) as ended:
        publish.run_tests(context, image=["fx-hello"])
    assert ended.value.code == 3
    err = capsys.readouterr().err
    assert "exec format error" in err
    assert "failed" not in err.split("error:")[0]  # no "x failed" test lines before it
