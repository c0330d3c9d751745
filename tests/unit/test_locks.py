"""Per-image locks: a second holder waits, and is told who holds the lock."""

from __future__ import annotations

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
