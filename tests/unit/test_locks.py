"""Per-image locks: a second holder waits, and is told who holds the lock."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from imagefleet import locks


def test_a_second_run_waits_for_the_first(tmp_path: Path) -> None:
    waited: list[tuple[str, str]] = []
    order: list[str] = []
    with locks.held(tmp_path, ["b", "a"], what="first"):

        def second() -> None:
            with locks.held(tmp_path, ["a"], what="second", on_wait=lambda *w: waited.append(w)):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    assert waited[0][0] == "a"
    assert waited[0][1].startswith("first (pid ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.lock", "b.lock"]


def test_disjoint_images_do_not_wait(tmp_path: Path) -> None:
    with locks.held(tmp_path, ["a"], what="one"), locks.held(tmp_path, ["b"], what="two"):
        pass


def test_a_run_is_told_whether_another_held_the_locks_since_it_looked(tmp_path: Path) -> None:
    def let_go_a_minute_ago() -> None:
        for lock in tmp_path.iterdir():
            os.utime(lock, (time.time() - 60, time.time() - 60))

    with locks.held(tmp_path, ["a", "b"], what="earlier run"):
        pass
    let_go_a_minute_ago()
    looked = time.time()
    with locks.held(tmp_path, ["a", "b"], what="this run", since=looked) as others:
        assert not others
    with locks.held(tmp_path, ["b"], what="another run"):
        let_go_a_minute_ago()  # it took the lock before this run looked again ...
        looked = time.time()
    # ... and let go after: what this run read meanwhile may be out of date
    with locks.held(tmp_path, ["a", "b"], what="this run", since=looked) as others:
        assert others
    with locks.held(tmp_path, ["a"], what="no question") as others:
        assert not others  # without `since`, only a wait counts


def test_a_run_that_waited_is_told_so(tmp_path: Path) -> None:
    told: list[bool] = []
    with locks.held(tmp_path, ["a"], what="first"):

        def second() -> None:
            with locks.held(tmp_path, ["a"], what="second") as others:
                told.append(others)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
    thread.join(5)
    assert told == [True]
    assert (tmp_path / "a.lock").read_text(encoding="utf-8") == ""  # emptied as it was let go
