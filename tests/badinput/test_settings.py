"""Bad settings, from ``invoke.yaml`` (here a runtime config file, ``-f``) and from
``INVOKE_FLEET_*``: checked once when any task starts, named with their source, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.conftest import Attempt
from tests.badinput.refusal import Case, cases

HELM = ("helm-deploy", "--release", "app", "--namespace", "ns", "--chart", "c")
BAD_BUILDER = {"INVOKE_FLEET_BUILDER": "kan/iko"}  # not a buildx builder name

ENVIRONMENT = cases(
    Case(
        "attempts-text",
        ("push", "--image", "fx-hello"),
        2,
        "invalid fleet.push.attempts 'abc' (from $INVOKE_FLEET_PUSH_ATTEMPTS)",
        {"INVOKE_FLEET_PUSH_ATTEMPTS": "abc"},
    ),
    Case(
        "attempts-zero",
        ("push", "--image", "fx-hello"),
        2,
        "must be at least 1",
        {"INVOKE_FLEET_PUSH_ATTEMPTS": "0"},
    ),
    Case(
        "max-wait-negative",
        ("push", "--image", "fx-hello"),
        2,
        "invalid fleet.push.max_wait '-5' (from $INVOKE_FLEET_PUSH_MAX_WAIT)",
        {"INVOKE_FLEET_PUSH_MAX_WAIT": "-5"},
    ),
    Case(
        "max-wait-text",
        ("push", "--image", "fx-hello"),
        2,
        "not a number",
        {"INVOKE_FLEET_PUSH_MAX_WAIT": "soon"},
    ),
    Case(
        "platforms-unknown",
        ("plan", "--all"),
        2,
        "(from $INVOKE_FLEET_PLATFORMS): unknown platform 'linux/amd46'",
        {"INVOKE_FLEET_PLATFORMS": "linux/amd64,linux/amd46"},
    ),
    Case(
        "platforms-no-arch",
        ("build", "--image", "fx-hello"),
        2,
        "amd64",
        {"INVOKE_FLEET_PLATFORMS": "amd64"},
    ),
    Case(
        "port-zero",
        ("registry.status",),
        2,
        "must be at least 1",
        {"INVOKE_FLEET_LOCAL_REGISTRY_PORT": "0"},
    ),
    Case(
        "port-too-big",
        ("registry.start",),
        2,
        "must be at most 65535",
        {"INVOKE_FLEET_LOCAL_REGISTRY_PORT": "70000"},
    ),
    Case(
        "port-text",
        ("registry.stop",),
        2,
        "not a whole number",
        {"INVOKE_FLEET_LOCAL_REGISTRY_PORT": "abc"},
    ),
    Case(
        "state-dir-outside",
        ("registry.start",),
        2,
        "outside the repository",
        {"INVOKE_FLEET_LOCAL_REGISTRY_STATE_DIR": "../../elsewhere"},
    ),
    Case(
        "images-dir-outside",
        ("list",),
        2,
        "outside the repository",
        {"INVOKE_FLEET_IMAGES_DIR": "../x"},
    ),
    Case(
        "images-dir-missing",
        ("list",),
        2,
        "no images directory",
        {"INVOKE_FLEET_IMAGES_DIR": "nope"},
    ),
    Case(
        "images-dir-absolute",
        ("docs", "--no-build"),
        2,
        "outside the repository",
        {"INVOKE_FLEET_IMAGES_DIR": "/etc"},
    ),
    Case("builder-unknown", ("list",), 2, "invalid builder 'kan/iko'", BAD_BUILDER),
    Case("builder-changed", ("changed",), 2, "invalid builder 'kan/iko'", BAD_BUILDER),
    Case("builder-test", ("test", "--image", "fx-hello"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-scan", ("scan", "--image", "fx-hello"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-lint", ("lint",), 2, "invalid builder", BAD_BUILDER),
    Case("builder-release", ("release", "--all", "--dry-run"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-run", ("run", "--image", "fx-hello"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-shell", ("shell", "--image", "fx-hello"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-act", ("act", "--list"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-docs", ("docs", "--check"), 2, "invalid builder", BAD_BUILDER),
    Case("builder-helm", HELM, 2, "invalid builder", BAD_BUILDER),
    Case(
        "registry-not-a-registry",
        ("push", "--image", "fx-hello"),
        2,
        "fleet.registry",
        {"INVOKE_FLEET_REGISTRY": "not a registry"},
    ),
    Case(
        "registry-url",
        ("tag", "--image", "fx-hello"),
        2,
        "fleet.registry",
        {"INVOKE_FLEET_REGISTRY": "https://ghcr.io/org"},
    ),
    Case(
        "registry-port",
        ("plan", "--all"),
        2,
        "fleet.registry",
        {"INVOKE_FLEET_REGISTRY": "localhost:0/fleet"},
    ),
    Case(
        "aliases-one-bad",
        ("plan", "--all"),
        2,
        "fleet.registry_aliases",
        {"INVOKE_FLEET_REGISTRY_ALIASES": "localhost:5000/ok,Bad Alias"},
    ),
    Case("helm-timeout-empty", HELM, 2, "fleet.helm.timeout", {"INVOKE_FLEET_HELM_TIMEOUT": ""}),
    Case(
        "helm-history-negative",
        HELM,
        2,
        "fleet.helm.history_max",
        {"INVOKE_FLEET_HELM_HISTORY_MAX": "-1"},
    ),
    Case(
        "helm-lock-wait-text",
        HELM,
        2,
        "fleet.helm.lock_wait",
        {"INVOKE_FLEET_HELM_LOCK_WAIT": "abc"},
    ),
    Case("helm-binary-empty", HELM, 2, "fleet.helm.binary", {"INVOKE_FLEET_HELM_BINARY": ""}),
    Case(
        "helm-deploy-image-bad",
        (*HELM, "--in-container"),
        2,
        "Not A Ref",
        {"INVOKE_FLEET_HELM_DEPLOY_IMAGE": "Not A Ref"},
    ),
    Case(
        "default-branch-empty",
        ("changed",),
        2,
        "fleet.default_branch",
        {"INVOKE_FLEET_DEFAULT_BRANCH": ""},
    ),
)


@pytest.mark.parametrize("case", ENVIRONMENT)
def test_bad_setting_from_the_environment(attempt: Attempt, project: Path, case: Case) -> None:
    attempt(case, project)


RUNTIME = [
    pytest.param(
        "push:\n  attempts: -3\n",
        ("list",),
        "invalid fleet.push.attempts -3 (from invoke.yaml): must be at least 1",
        id="attempts-negative",
    ),
    pytest.param(
        "push:\n  attempts: yes\n",
        ("push", "--image", "fx-hello"),
        "a number, not a boolean",
        id="attempts-boolean",
    ),
    pytest.param("push: 3\n", ("list",), "fleet.push", id="section-not-a-mapping"),
    pytest.param(
        "local_registry:\n  prot: 5001\n",
        ("registry.status",),
        "unknown setting fleet.local_registry.prot",
        id="key-typo",
    ),
    pytest.param(
        "local_registry:\n  port: -1\n",
        ("registry.start",),
        "must be at least 1",
        id="port-negative",
    ),
    pytest.param(
        "regsitry: localhost:5000/x\n",
        ("list",),
        "unknown setting fleet.regsitry",
        id="top-level-typo",
    ),
    pytest.param("zzz: 1\n", ("list",), "unknown setting fleet.zzz", id="unknown-key"),
    pytest.param(
        "platforms:\n  - linux/amd46\n",
        ("plan", "--all"),
        "unknown platform",
        id="platforms-unknown",
    ),
    pytest.param(
        "platforms: [1, 2]\n", ("plan", "--all"), "fleet.platforms", id="platforms-not-text"
    ),
    pytest.param(
        "images_dir: /tmp\n", ("list",), "outside the repository", id="images-dir-outside"
    ),
    pytest.param(
        "helm:\n  image_keys:\n    repo: x\n",
        HELM,
        "unknown setting fleet.helm.image_keys.repo",
        id="helm-typo",
    ),
    pytest.param("fleet: 3\n", ("list",), "invalid fleet 3", id="fleet-not-a-mapping"),
    pytest.param("fleet: [a]\n", ("registry.status",), "invalid fleet ['a']", id="fleet-a-list"),
    pytest.param(
        "notify:\n  urls: 5\n",
        ("push", "--image", "fx-hello"),
        "fleet.notify.urls",
        id="notify-not-a-list",
    ),
    pytest.param(
        "builder: kan/iko\n", ("build", "--image", "fx-hello"), "invalid builder", id="builder"
    ),
]


@pytest.mark.parametrize(("fleet", "args", "needle"), RUNTIME)
def test_bad_setting_in_invoke_yaml(
    attempt: Attempt, project: Path, tmp_path: Path, fleet: str, args: tuple[str, ...], needle: str
) -> None:
    runtime = tmp_path / "fleet.yaml"  # outside the project: the tree stays as it was
    if not fleet.startswith("fleet:"):  # a part of the fleet: section
        fleet = "fleet:\n" + "".join(f"  {line}\n" for line in fleet.splitlines())
    runtime.write_text(fleet)
    attempt(Case("runtime", ("-f", str(runtime), *args), 2, needle), project)
