"""Bad flags, task by task: refused by the task (exit 2 and a hint) before any side effect;
Invoke's own parse errors stay its exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.conftest import Attempt
from tests.badinput.refusal import Case, cases
from tests.helpers import invoke

HELM = ("helm-deploy", "--release", "app", "--namespace", "ns", "--chart")

FLAGS = cases(
    # selection, shared by plan, build, test, tag, push, release, scan
    Case("plan-unknown-image", ("plan", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case("plan-all-and-image", ("plan", "--all", "--image", "fx-hello"), 2, "choose one of"),
    Case("plan-bad-platform", ("plan", "--all", "--platform", "amd64"), 2, "invalid platform"),
    Case("plan-bad-build-arg", ("plan", "--all", "--build-arg", "=x"), 2, "invalid --build-arg"),
    Case("plan-invalid-name", ("plan", "--image", "Fx_Hello"), 2, "Fx_Hello"),
    Case("build-nothing-selected", ("build",), 2, "no image selected"),
    Case("build-unknown-image", ("build", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case("build-all-and-changed", ("build", "--all", "--changed"), 2, "choose one of"),
    Case("build-all-and-image", ("build", "--all", "--image", "fx-hello"), 2, "choose one of"),
    Case(
        "build-arg-no-value",
        ("build", "--image", "fx-hello", "--build-arg", "NOPE"),
        2,
        "invalid --build-arg 'NOPE'",
    ),
    Case(
        "build-arg-bad-name",
        ("build", "--image", "fx-hello", "--build-arg", "1X=2"),
        2,
        "invalid --build-arg",
    ),
    Case(
        "build-arg-undeclared",
        ("build", "--image", "fx-hello", "--build-arg", "TYPO=1"),
        2,
        "TYPO is not declared",
    ),
    Case(
        "build-platform-no-arch",
        ("build", "--image", "fx-hello", "--platform", "amd64"),
        2,
        "invalid platform 'amd64'",
    ),
    Case(
        "build-platform-unknown",
        ("build", "--image", "fx-hello", "--platform", "linux/amd46"),
        2,
        "unknown platform",
    ),
    Case(
        "build-platform-too-long",
        ("build", "--image", "fx-hello", "--platform", "linux/arm/v7/x"),
        2,
        "platform",
    ),
    Case(
        "build-jobs-text",
        ("build", "--image", "fx-hello", "--jobs", "abc"),
        2,
        "invalid --jobs abc",
    ),
    Case(
        "build-jobs-negative",
        ("build", "--image", "fx-hello", "--jobs", "-2"),
        2,
        "invalid --jobs -2",
    ),
    Case("build-jobs-zero", ("build", "--all", "--jobs", "0"), 2, "invalid --jobs 0"),
    Case(
        "build-digests-without-nodes",
        ("build", "--image", "fx-hello", "--digests", "d"),
        2,
        "--digests d works only with builds on BuildKit nodes",
    ),
    Case(
        "build-registry-scheme",
        ("build", "--image", "fx-hello", "--registry", "https://ghcr.io/org"),
        2,
        "no URL scheme",
    ),
    Case(
        "build-dry-run-unknown",
        ("build", "--image", "nope", "--dry-run"),
        2,
        "unknown image 'nope'",
    ),
    Case("test-nothing-selected", ("test",), 2, "no image selected"),
    Case("test-unknown-image", ("test", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case(
        "test-bad-registry",
        ("test", "--image", "fx-hello", "--registry", "a b"),
        2,
        "invalid registry",
    ),
    Case(
        "test-junit-is-a-file",
        ("test", "--image", "fx-hello", "--junit", "images/fx-hello/image.yml"),
        2,
        "invalid --junit",
    ),
    Case("tag-unknown-image", ("tag", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case(
        "tag-bad-registry",
        ("tag", "--image", "fx-hello", "--registry", "not a registry"),
        2,
        "invalid registry",
    ),
    Case(
        "tag-registry-namespace",
        ("tag", "--image", "fx-hello", "--registry", "localhost:5000/Team"),
        2,
        "namespace",
    ),
    Case("push-nothing-selected", ("push",), 2, "no image selected"),
    Case("push-unknown-image", ("push", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case(
        "push-registry-scheme",
        ("push", "--image", "fx-hello", "--registry", "https://ghcr.io/org"),
        2,
        "no URL scheme",
    ),
    Case(
        "push-registry-namespace",
        ("push", "--image", "fx-hello", "--registry", "localhost:5000/Team"),
        2,
        "namespace",
    ),
    Case(
        "push-registry-bad-port",
        ("push", "--image", "fx-hello", "--registry", "localhost:99999/team"),
        2,
        "port 99999 is not from 1 to 65535",
    ),
    Case(
        "changed-github-output-unset",
        ("changed", "--github-output"),
        2,
        "--github-output needs $GITHUB_OUTPUT",
    ),
    Case("release-nothing-selected", ("release",), 2, "no image selected"),
    Case("release-unknown-image", ("release", "--image", "fx-helo"), 2, "unknown image"),
    Case(
        "release-github-output-unset",
        ("release", "--all", "--github-output"),
        2,
        "--github-output needs $GITHUB_OUTPUT",
    ),
    Case(
        "release-push-unknown-remote",
        ("release", "--all", "--push", "--remote", "nowhere"),
        2,
        "no git remote 'nowhere'",
    ),
    Case("lint-unknown-image", ("lint", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case("lint-bad-format", ("lint", "--format", "xml"), 2, "invalid --format 'xml'"),
    Case(
        "lint-output-without-format",
        ("lint", "--output", "report.json"),
        2,
        "--output needs --format json or sarif",
    ),
    Case(
        "lint-output-in-missing-dir",
        ("lint", "--format", "json", "--output", "/nonexistent/dir/report.json"),
        2,
        "invalid --output /nonexistent/dir/report.json",
    ),
    Case("scan-unknown-image", ("scan", "--image", "fx-helo"), 2, "unknown image 'fx-helo'"),
    Case(
        "verify-unknown-image",
        ("verify", "--image", "fx-helo", "--registry", "localhost:5000/fleet"),
        2,
        "unknown image 'fx-helo'",
    ),
    Case(
        "verify-bad-tag",
        ("verify", "--image", "fx-hello", "--registry", "localhost:5000/fleet", "--tag", "bad!"),
        2,
        "invalid tag 'bad!'",
    ),
    Case(
        "verify-bad-registry",
        ("verify", "--image", "fx-hello", "--registry", "Bad_Host:99999/x"),
        2,
        "invalid registry 'Bad_Host:99999/x'",
    ),
    Case("scan-bad-fail-on", ("scan", "--image", "fx-hello", "--fail-on", "nope"), 2, "nope"),
    Case(
        "scan-sbom-dir-is-a-file",
        ("scan", "--image", "fx-hello", "--sbom-dir", "images/fx-hello/image.yml"),
        2,
        "invalid --sbom-dir",
    ),
    Case(
        "helm-no-flags", ("helm-deploy",), 2, "helm-deploy needs --release, --chart and --namespace"
    ),
    Case(
        "helm-no-namespace",
        ("helm-deploy", "--release", "r", "--chart", "c"),
        2,
        "needs --namespace",
    ),
    Case(
        "helm-bad-release",
        ("helm-deploy", "--release", "Bad_Name", "--namespace", "ns", "--chart", "c"),
        2,
        "invalid release name 'Bad_Name'",
    ),
    Case(
        "helm-bad-namespace",
        ("helm-deploy", "--release", "app", "--namespace", "Not A Label", "--chart", "c"),
        2,
        "invalid namespace",
    ),
    Case("helm-bad-set", (*HELM, "c", "--set", "novalue"), 2, "invalid --set 'novalue'"),
    Case("helm-bad-timeout", (*HELM, "c", "--timeout", "soon"), 2, "invalid --timeout"),
    Case("helm-missing-values", (*HELM, "c", "--values", "/no/values.yaml"), 2, "values.yaml"),
    Case("helm-missing-chart", (*HELM, "/no/chart"), 2, "chart"),
    Case("helm-unknown-image", (*HELM, "c", "--image", "fx-helo"), 2, "unknown image"),
    Case("helm-bad-tag", (*HELM, "c", "--image", "fx-hello", "--tag", "-bad"), 2, "invalid tag"),
    Case("run-no-image", ("run",), 2, "run needs --image"),
    Case(
        "run-unknown-image",
        ("run", "--image", "fx-helo", "--", "true"),
        2,
        "unknown image 'fx-helo'",
    ),
    Case(
        "run-env-with-value",
        ("run", "--image", "fx-hello", "--env", "TOKEN=secret"),
        2,
        "invalid --env 'TOKEN=secret'",
    ),
    Case("run-bad-tag", ("run", "--image", "fx-hello", "--tag", "-bad"), 2, "invalid tag"),
    Case("shell-no-image", ("shell",), 2, "shell needs --image"),
    Case("shell-bad-env", ("shell", "--image", "fx-hello", "--env", "1X"), 2, "invalid --env"),
    Case("shell-unknown-image", ("shell", "--image", "fx-helo"), 2, "unknown image"),
    Case("act-unknown-workflow", ("act", "--workflow", "nope.yml", "--list"), 2, "nope.yml"),
    Case(
        "docs-bad-dev-addr",
        ("docs", "--serve", "--dev-addr", "nowhere"),
        2,
        "invalid --dev-addr 'nowhere'",
    ),
    Case(
        "docs-bad-dev-port",
        ("docs", "--serve", "--dev-addr", "127.0.0.1:0"),
        2,
        "invalid --dev-addr",
    ),
    Case(
        "docs-site-dir-is-a-file",
        ("docs", "--site-dir", "images/fx-hello/image.yml"),
        2,
        "invalid --site-dir",
    ),
    Case("registry-port-too-big", ("registry.start", "--port", "99999"), 2, "invalid --port 99999"),
    Case("registry-port-zero", ("registry.start", "--port", "0"), 2, "invalid --port 0"),
    Case("registry-port-text", ("registry.start", "--port", "abc"), 2, "invalid --port abc"),
    Case("registry-port-negative", ("registry.start", "--port", "-1"), 2, "invalid --port -1"),
    Case(
        "registry-port-and-any",
        ("registry.start", "--port", "5001", "--any-port"),
        2,
        "choose one of --port 5001 and --any-port",
    ),
)


@pytest.mark.parametrize("case", FLAGS)
def test_bad_flag_is_refused_by_the_task(attempt: Attempt, project: Path, case: Case) -> None:
    attempt(case, project)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("no-such-task",), id="unknown-task"),
        pytest.param(("build", "--no-such-flag"), id="unknown-flag"),
        pytest.param(("build", "--jobs"), id="flag-without-value"),
        pytest.param(("registry.start", "--port"), id="port-without-value"),
    ],
)
def test_invokes_own_parse_errors_stay_exit_1(project: Path, args: tuple[str, ...]) -> None:
    # Refused by Invoke before any task code runs: its message, its exit code (the README's
    # exit-code table says so), and no traceback.
    result = invoke(project, *args)
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
