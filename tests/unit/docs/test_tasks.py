"""The task reference: every task documents itself, and the page shows every task and flag."""

from __future__ import annotations

from imagefleet.docs import tasks
from imagefleet.tasks import docs as docs_tasks
from imagefleet.tasks import namespace
from tests.helpers import REPO


def test_every_flag_of_every_task_has_help() -> None:
    for task in docs_tasks.describe(namespace()):
        assert task.summary, f"{task.name} has no docstring"
        for flag in task.flags:
            assert flag.help, f"{task.name} {flag.names[0]} has no help"


def test_the_task_reference_shows_every_task_and_flag() -> None:
    page = (REPO / tasks.TASKS_PAGE).read_text(encoding="utf-8")
    for task in docs_tasks.describe(namespace()):
        section = page.split(f"## invoke {task.name}\n", 1)[1].split("\n## ", 1)[0]
        for flag in task.flags:
            assert f"`{flag.names[0]}`" in section, (task.name, flag.names[0])
