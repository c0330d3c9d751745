"""Questions asked early, in threads, and taken once where they are needed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagefleet import early
from imagefleet.settings import Settings
from imagefleet.tasks._common import locked_for_build, speaks_errors


@pytest.fixture(autouse=True)
def _nothing_asked() -> Iterator[None]:
    early.forget()
    yield
    early.forget()


def test_the_early_answer_is_taken_and_the_question_not_asked_again() -> None:
    asked: list[str] = []
    release = threading.Event()

    def question() -> str:
        release.wait(5)
        asked.append(threading.current_thread().name)
        return "early"

    early.ask("q", question)
    early.ask("q", question)  # asked once, whoever asks
    release.set()
    assert early.take("q", lambda: "late") == "early"
    assert asked == ["early"]  # in the thread, not in the caller's


def test_an_answer_is_taken_once_then_the_question_is_asked_where_taken() -> None:
    early.ask("q", lambda: 1)
    assert early.take("q", lambda: 2) == 1
    assert early.take("q", lambda: 2) == 2


def test_a_question_never_asked_early_is_asked_where_taken() -> None:
    assert early.take("other", lambda: "now") == "now"


def test_a_failed_early_question_raises_where_taken() -> None:
    calls: list[str] = []

    def question() -> str:
        calls.append(threading.current_thread().name)
        raise ValueError(f"attempt {len(calls)}")

    early.ask("q", question)
    with pytest.raises(ValueError, match="attempt 2"):
        early.take("q", question)
    assert calls[0] == "early"
    assert calls[1] == threading.current_thread().name


def test_forgotten_answers_are_asked_again() -> None:
    early.ask("q", lambda: "stale")
    early.forget()
    assert early.take("q", lambda: "fresh") == "fresh"


def test_a_build_asks_again_what_another_run_may_have_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = Settings.from_config({"root": str(tmp_path)})
    early.ask("images", lambda: "as listed before the run took its locks")
    with locked_for_build(s, ["app"]):
        assert early.since() is None  # the lock's file was made after the question: forgotten
    assert early.take("images", lambda: "asked again") == "asked again"
    for lock in s.locks_dir.iterdir():  # let go of a minute ago
        os.utime(lock, (time.time() - 60, time.time() - 60))
    early.ask("images", lambda: "as listed")
    with locked_for_build(s, ["app"]):  # nobody held it since: the early answer holds
        pass
    assert early.take("images", lambda: "asked again") == "as listed"


def test_what_a_task_asked_early_and_did_not_take_is_not_the_next_ones() -> None:
    @speaks_errors
    def a_task() -> None:
        early.ask("images", lambda: "listed during the first task")

    a_task()
    assert early.take("images", lambda: "asked again") == "asked again"
