"""`invoke tag` and `invoke push` against a real registry on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from imagefleet import localregistry
from imagefleet import registry as registry_mod
from imagefleet.content import KEY_LABEL, key_tag
from imagefleet.engine import Engine
from imagefleet.errors import RegistryUnreachableError
from imagefleet.reference import parse_target
from imagefleet.tags import TagSet
from tests.helpers import REPO, git, invoke, webhook_receiver

pytestmark = pytest.mark.integration

MANIFEST_ACCEPT = registry_mod.MANIFEST_TYPES


def _remote(
    registry: localregistry.LocalRegistry, path: str, tag: str, auth: tuple[str, str] | None = None
) -> tuple[str, str]:
    """(manifest digest, config digest) of path:tag, read straight from the HTTP API."""
    response = requests.get(
        f"{registry.url}/v2/{path}/manifests/{tag}",
        headers={"Accept": MANIFEST_ACCEPT},
        auth=auth,
        timeout=10,
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"], response.json()["config"]["digest"]


def _tags(
    registry: localregistry.LocalRegistry, path: str, auth: tuple[str, str] | None = None
) -> set[str]:
    response = requests.get(f"{registry.url}/v2/{path}/tags/list", auth=auth, timeout=10)
    if response.status_code == 404:
        return set()
    response.raise_for_status()
    return set(response.json()["tags"] or ())


def _build(project: Path, *images: str) -> None:
    args = [a for image in images for a in ("--image", image)]
    result = invoke(project, "build", *args)
    assert result.code == 0, result.output


def test_tag_applies_the_policy_locally(project: Path, engine: Engine) -> None:
    _build(project, "fx-hello")
    sha = git(project, "rev-parse", "HEAD")
    result = invoke(
        project, "tag", "--image", "fx-hello", "--registry", "localhost:5999/team", "--json"
    )
    assert result.code == 0, result.output
    refs = json.loads(result.stdout)["fx-hello"]
    expected = [sha, f"sha-{sha[:12]}", "1.4.2", "1.4", "1", "stable", "latest"]
    assert refs == [f"fx-hello:{t}" for t in expected] + [
        f"localhost:5999/team/fx-hello:{t}" for t in expected
    ]
    image_id = engine.image_id(f"fx-hello:{sha}")
    assert all(engine.image_id(ref) == image_id for ref in refs)


def test_push_verifies_every_tag_by_digest(
    project: Path, engine: Engine, registry: localregistry.LocalRegistry
) -> None:
    _build(project, "fx-hello", "fx-plain")
    sha = git(project, "rev-parse", "HEAD")
    result = invoke(
        project,
        "push",
        "--image",
        "fx-hello",
        "--image",
        "fx-plain",
        "--registry",
        f"{registry.address}/team",
        "--json",
    )
    assert result.code == 0, result.output
    pushed = json.loads(result.stdout)
    image_id = engine.image_id(f"fx-hello:{sha}")
    repo_digests = set(engine.repo_digests(f"fx-hello:{sha}"))
    # The content key is published beside the image, so another machine finds this content.
    key = key_tag(engine.labels(f"fx-hello:{sha}")[KEY_LABEL])
    expected = {sha, f"sha-{sha[:12]}", "1.4.2", "1.4", "1", "stable", key, "latest"}
    assert _tags(registry, "team/fx-hello") == expected
    for tag in expected:
        ref = f"{registry.address}/team/fx-hello:{tag}"
        digest, config = _remote(registry, "team/fx-hello", tag)
        assert pushed["fx-hello"][ref] == digest
        assert config == image_id  # the registry holds exactly the local image
        assert f"{registry.address}/team/fx-hello@{digest}" in repo_digests
    plain = key_tag(engine.labels(f"fx-plain:{sha}")[KEY_LABEL])
    assert _tags(registry, "team/fx-plain") == {sha, f"sha-{sha[:12]}", plain, "latest"}


def test_latest_moves_last_and_only_after_the_rest(
    project: Path, engine: Engine, tmp_path: Path
) -> None:
    _build(project, "fx-hello")
    sha = git(project, "rev-parse", "HEAD")
    directory = tmp_path / "reg"
    first = localregistry.start(directory)
    target = parse_target(f"{first.address}/team")
    tags = TagSet(primary=sha, tags=(sha, f"sha-{sha[:12]}", "1.4.2", "latest"))
    order: list[str] = []
    try:
        registry_mod.push(
            engine,
            f"fx-hello:{sha}",
            target,
            "fx-hello",
            tags,
            attempts=5,
            max_wait=8.0,
            on_tag=lambda t: order.append(t.reference.rsplit(":", 1)[1]),
        )
        assert order == [sha, f"sha-{sha[:12]}", "1.4.2", "latest"]

        # Now the registry goes away after the first tag: the push fails, latest never moves.
        engine.remove(f"{first.address}/team/fx-hello:latest")
        requests.delete(
            f"{first.url}/v2/team/fx-hello/manifests/"
            f"{_remote(first, 'team/fx-hello', 'latest')[0]}",
            timeout=10,
        )
        rebuilt = TagSet(primary=sha, tags=(sha, "second", "latest"))

        def stop_after_first(_: registry_mod.PushedTag) -> None:
            localregistry.stop(directory, keep_storage=True)

        with pytest.raises(RegistryUnreachableError, match="gave up after 2 attempts"):
            registry_mod.push(
                engine,
                f"fx-hello:{sha}",
                target,
                "fx-hello",
                rebuilt,
                attempts=2,
                max_wait=0.2,
                on_tag=stop_after_first,
            )
        again = localregistry.start(directory, first.port)
        assert "latest" not in _tags(again, "team/fx-hello")
        assert "second" not in _tags(again, "team/fx-hello")
    finally:
        localregistry.stop(directory)


def test_push_before_build_is_refused(project: Path, registry: localregistry.LocalRegistry) -> None:
    result = invoke(project, "push", "--image", "fx-plain", "--registry", registry.address)
    assert result.code == 2, result.output
    assert "fx-plain has not been built for this commit" in result.stderr
    assert "hint: run `invoke build --image fx-plain` first" in result.stderr
    assert _tags(registry, "fx-plain") == set()


def test_dirty_tree_pushes_marked_tags_only(
    project: Path, engine: Engine, registry: localregistry.LocalRegistry
) -> None:
    (project / "images" / "fx-plain" / "NOTES").write_text("uncommitted\n")
    _build(project, "fx-plain")
    sha = git(project, "rev-parse", "HEAD")
    result = invoke(
        project, "push", "--image", "fx-plain", "--registry", registry.address, "--latest"
    )
    assert result.code == 0, result.output
    # No clean tag and no latest; the content key names exactly what was built, dirty or not.
    key = key_tag(engine.labels(f"fx-plain:{sha}-dirty")[KEY_LABEL])
    assert _tags(registry, "fx-plain") == {f"{sha}-dirty", f"sha-{sha[:12]}-dirty", key}


def test_registry_unreachable(project: Path) -> None:
    _build(project, "fx-plain")
    port = localregistry.free_port()
    started = time.monotonic()
    result = invoke(
        project,
        "push",
        "--image",
        "fx-plain",
        "--registry",
        f"localhost:{port}/x",
        env={"INVOKE_FLEET_PUSH_ATTEMPTS": "2", "INVOKE_FLEET_PUSH_MAX_WAIT": "0.2"},
    )
    assert result.code == 5, result.output
    assert "Traceback" not in result.output
    assert f"registry localhost:{port} refused the connection" in result.stderr
    assert "gave up after 2 attempts" in result.stderr
    assert time.monotonic() - started < 30


def test_transient_failure_is_retried(project: Path, tmp_path: Path) -> None:
    """The registry comes up while the push is already retrying: the push still succeeds."""
    _build(project, "fx-plain")
    port = localregistry.free_port()
    env = {
        "INVOKE_FLEET_ROOT": str(project),
        "INVOKE_FLEET_PUSH_ATTEMPTS": "8",
        "INVOKE_FLEET_PUSH_MAX_WAIT": "1",
        "COLUMNS": "200",
    }
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(REPO),
            "push",
            "--image",
            "fx-plain",
            "--registry",
            f"localhost:{port}/late",
        ],
        cwd=project,
        env={**os.environ, **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        time.sleep(2.0)
        late = localregistry.start(tmp_path / "late", port)
        try:
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stdout + stderr
            assert "retrying" in stderr
            assert "latest" in _tags(late, "late/fx-plain")
        finally:
            localregistry.stop(tmp_path / "late")


@pytest.fixture
def auth_registry(
    tmp_path: Path,
) -> Iterator[tuple[localregistry.LocalRegistry, tuple[str, str]]]:
    user, secret = "ci-robot", "pw-9f8e7d6c5b4a"
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text(f"{user}:{hashed}\n")
    running = localregistry.start(tmp_path / "auth-registry", htpasswd=htpasswd)
    yield running, (user, secret)
    localregistry.stop(tmp_path / "auth-registry")


def test_auth_refused_is_not_retried_and_env_credentials_work(
    project: Path,
    auth_registry: tuple[localregistry.LocalRegistry, tuple[str, str]],
    engine: Engine,
) -> None:
    registry, (user, secret) = auth_registry
    _build(project, "fx-plain")
    sha = git(project, "rev-parse", "HEAD")

    anonymous = invoke(project, "push", "--image", "fx-plain", "--registry", registry.address)
    assert anonymous.code == 5, anonymous.output
    assert "no basic auth credentials" in anonymous.stderr or "refused" in anonymous.stderr
    assert "retrying" not in anonymous.stderr
    assert "FLEET_REGISTRY_USERNAME" in anonymous.stderr  # the hint says how to log in

    wrong = invoke(
        project,
        "push",
        "--image",
        "fx-plain",
        "--registry",
        registry.address,
        env={"FLEET_REGISTRY_USERNAME": user, "FLEET_REGISTRY_PASSWORD": "nope-xyz"},
    )
    assert wrong.code == 5, wrong.output
    assert "nope-xyz" not in wrong.output

    ok = invoke(
        project,
        "push",
        "--image",
        "fx-plain",
        "--registry",
        registry.address,
        "--json",
        env={"FLEET_REGISTRY_USERNAME": user, "FLEET_REGISTRY_PASSWORD": secret},
    )
    assert ok.code == 0, ok.output
    assert secret not in ok.output
    pushed = json.loads(ok.stdout)["fx-plain"]
    digest, config = _remote(registry, "fx-plain", sha, auth=(user, secret))
    assert pushed[f"{registry.address}/fx-plain:{sha}"] == digest
    assert config == engine.image_id(f"fx-plain:{sha}")


def test_push_announces_what_became_available(
    project: Path, tmp_path: Path, registry: localregistry.LocalRegistry
) -> None:
    _build(project, "fx-hello")
    sha = git(project, "rev-parse", "HEAD")
    summary = tmp_path / "summary.md"
    with webhook_receiver() as receiver:
        dead = "json://robot:pa55word@127.0.0.1:1/never"  # refused: a warning, not a failure
        result = invoke(
            project,
            "push",
            "--image",
            "fx-hello",
            "--registry",
            f"{registry.address}/team",
            "--json",
            env={
                "GITHUB_STEP_SUMMARY": str(summary),
                "FLEET_NOTIFY_URLS": f"json://127.0.0.1:{receiver.port}/hook {dead}",
            },
        )
    assert result.code == 0, result.output
    announced = json.loads(result.stdout)["fx-hello"]["announcement"]
    digest, _ = _remote(registry, "team/fx-hello", sha)
    assert announced["digest"] == digest
    assert announced["commit"] == sha
    assert announced["version"] == "1.4.2"
    assert announced["tags"][:2] == [sha, f"sha-{sha[:12]}"]
    assert announced["platforms"]
    assert announced["size"] > 0
    [(path, body)] = receiver.got
    assert path == "/hook"
    assert json.loads(body["message"])["images"] == [announced]
    assert digest in summary.read_text()
    assert "notification to json://127.0.0.1:1 failed" in result.stderr
    assert "pa55word" not in result.output


def test_local_registry_tasks(project: Path) -> None:
    started = invoke(project, "registry.start", "--any-port")
    assert started.code == 0, started.output
    address = started.stdout.strip()
    try:
        assert invoke(project, "registry.status").stdout.strip() == address
        assert requests.get(f"http://{address}/v2/", timeout=5).status_code == 200
        again = invoke(project, "registry.start")
        assert "already running" in again.stderr
    finally:
        stopped = invoke(project, "registry.stop")
    assert stopped.code == 0, stopped.output
    assert f"stopped local registry on {address}" in stopped.stderr
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{address}/v2/", timeout=5)
    assert "no local registry is running" in invoke(project, "registry.status").stderr


def test_build_push_builds_and_pushes_in_one_task(
    family: tuple[Path, dict[str, str]], registry: localregistry.LocalRegistry
) -> None:
    project, env = family
    result = invoke(
        project,
        *("build", "--all", "--push", "--registry", env["INVOKE_FLEET_REGISTRY"], "--json"),
        env=env,
    )
    assert result.code == 0, result.output
    outcomes = {o["image"]: o for o in json.loads(result.stdout)}
    for name, outcome in outcomes.items():
        assert outcome["builder"] == "local"
        assert outcome["digest"], outcome
        assert "latest" in _tags(registry, f"fleet/{name}")
        assert _remote(registry, f"fleet/{name}", "latest")[0] == outcome["digest"]
