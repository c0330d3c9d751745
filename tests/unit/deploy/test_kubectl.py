"""The kubectl seam: the kube-context goes on every command, failures come back as results."""

from __future__ import annotations

from imagefleet.deploy.kubectl import Kubectl

from .fakes import FakeRunner, fail, ok


def test_the_context_is_appended_and_the_timeout_passed() -> None:
    runner = FakeRunner().on("kubectl", reply=ok("namespace/team"))
    assert Kubectl(runner, "staging").call("get", "namespace", "team", timeout=5).stdout == (
        "namespace/team"
    )
    assert runner.calls == [["kubectl", "get", "namespace", "team", "--context", "staging"]]
    assert runner.timeouts == [5]


def test_no_context_means_the_current_one_and_failures_are_results() -> None:
    runner = FakeRunner().on("kubectl", reply=fail("Error from server (NotFound)"))
    done = Kubectl(runner).call("get", "lease", "x")
    assert done.code == 1
    assert runner.calls == [["kubectl", "get", "lease", "x"]]
    assert runner.timeouts == [120]
