"""Build secrets on the real engine: a ``RUN`` step reads the secret, and its value is nowhere
after the build (layers, image config, history, the CLI's output with debug logs on); a missing
variable and the classic builder are refused before anything builds."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from imagefleet.engine import Engine
from tests.helpers import FIXTURES, git, invoke, make_project

pytestmark = pytest.mark.integration

NAME = "fx-secrets-token"
VARIABLE = "FX_SECRETS_TOKEN"


@pytest.fixture
def secret_project(
    tmp_path: Path, engine: Engine, busybox_path: Path, janitor: None
) -> Iterator[Path]:
    """A committed project holding the image whose build mounts the secret ``token``; every
    image built as it goes afterwards, untagged ones too (a rebuild leaves the previous image
    untagged, still carrying its content key)."""
    yield make_project(tmp_path / "project", {NAME: FIXTURES / "secrets" / NAME})
    title = f"org.opencontainers.image.title={NAME}"
    for image in engine.client.images.list(all=True, filters={"label": title}):
        with contextlib.suppress(docker.errors.APIError):
            engine.client.images.remove(str(image.id), force=True)


def _traces(value: str) -> list[bytes]:
    """The value as bytes, and the encodings a config or log could carry it in."""
    raw = value.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode()]


def _saved_files(engine: Engine, ref: str) -> dict[str, bytes]:
    """Every file of ``docker save`` (layer tarballs, the config, manifests), and every file
    inside each layer tarball."""
    archive = b"".join(engine.client.images.get(ref).save(named=True))
    files: dict[str, bytes] = {"<archive>": archive}
    with tarfile.open(fileobj=io.BytesIO(archive)) as outer:
        for member in outer.getmembers():
            stream = outer.extractfile(member) if member.isfile() else None
            if stream is None:
                continue
            data = stream.read()
            files[member.name] = data
            try:
                inner = tarfile.open(fileobj=io.BytesIO(data))  # noqa: SIM115 - closed below
            except tarfile.TarError:
                continue  # not a layer
            with inner:
                for entry in inner.getmembers():
                    found = inner.extractfile(entry) if entry.isfile() else None
                    if found is not None:
                        files[f"{member.name}!{entry.name}"] = found.read()
    return files


def test_the_secret_is_usable_and_leaves_no_trace(secret_project: Path, engine: Engine) -> None:
    value = f"fx-secret-{uuid.uuid4().hex}"
    env = {VARIABLE: value}
    # --no-cache: BuildKit's cache key of a RUN step leaves secrets out, so a step cached from an
    # earlier run (another value) would not run again.
    result = invoke(secret_project, "build", "--image", NAME, "--no-cache", "--json", env=env)
    assert result.code == 0, result.output
    [built] = json.loads(result.stdout)
    ref = built["reference"]

    # The RUN step saw the value: it kept the value's hash in the image.
    digest = hashlib.sha256(value.encode()).hexdigest()
    output: bytes = engine.client.containers.run(ref, remove=True)
    assert output.decode().strip() == digest

    # Built again from scratch with debug logs (the bake definition and BuildKit's whole log).
    debug = invoke(
        secret_project,
        "build",
        "--image",
        NAME,
        "--no-cache",
        env={**env, "FLEET_DEBUG": "1"},
    )
    assert debug.code == 0, debug.output
    assert f"id=token,env={VARIABLE}" in debug.stderr  # the logs were on, and named the secret

    saved = _saved_files(engine, ref)
    # The search reaches into the layers: the step's own output (the hash) is found there.
    assert [
        n for n, data in saved.items() if n.endswith("!token.sha256") and digest.encode() in data
    ]
    attrs = engine.inspect(ref)
    history = engine.client.images.get(ref).history()
    for trace in _traces(value):
        assert not [name for name, data in saved.items() if trace in data], trace
        assert trace.decode() not in json.dumps(attrs), trace
        assert trace.decode() not in json.dumps(history), trace
        for run in (result, debug):
            assert trace.decode() not in run.output, trace
    # Never a build arg either: the history and config do not even name the variable.
    assert VARIABLE not in json.dumps(history)
    assert VARIABLE not in json.dumps(attrs["Config"])

    # Built content needs no secret: without the variable the image is up to date, no refusal.
    again = invoke(secret_project, "build", "--image", NAME, env={VARIABLE: ""})
    assert again.code == 0, again.output
    assert "up-to-date" in again.stderr


def test_an_unset_variable_is_refused_before_anything_builds(
    secret_project: Path, engine: Engine
) -> None:
    sha = git(secret_project, "rev-parse", "HEAD")
    result = invoke(secret_project, "build", "--image", NAME, env={VARIABLE: ""})
    assert result.code == 3, result.output
    assert f"error: build secrets not set in the environment: {VARIABLE} ({NAME}: token)" in (
        result.stderr
    )
    assert "optional: true" in result.stderr
    assert engine.image_id(f"{NAME}:{sha}") is None


def test_the_classic_builder_is_refused(secret_project: Path, engine: Engine) -> None:
    sha = git(secret_project, "rev-parse", "HEAD")
    env = {VARIABLE: "value", "INVOKE_FLEET_BUILDER": "classic"}
    result = invoke(secret_project, "build", "--image", NAME, env=env)
    assert result.code == 3, result.output
    assert f"error: {NAME}: build secrets need BuildKit" in result.stderr
    assert engine.image_id(f"{NAME}:{sha}") is None


def test_an_optional_secret_left_unset_is_not_mounted(secret_project: Path) -> None:
    # Marked optional, the tool does not refuse and passes no secret: the step's
    # `required=true` mount then fails in BuildKit (a plain mount would find no file).
    manifest = secret_project / "images" / NAME / "image.yml"
    manifest.write_text(manifest.read_text() + "    optional: true\n")
    args = ("build", "--image", NAME, "--no-cache")  # BuildKit's cache would skip the step
    result = invoke(secret_project, *args, env={VARIABLE: ""})
    assert result.code == 4, result.output
    assert "token" in result.stderr


def test_a_step_that_prints_its_secret_is_masked_in_the_error(secret_project: Path) -> None:
    # A careless step: the tool's error shows the failed step's log tail, never the value.
    dockerfile = secret_project / "images" / NAME / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "sha256sum /run/secrets/token", "cat /run/secrets/token && echo && exit 3 && true"
        )
    )
    value = f"fx-printed-{uuid.uuid4().hex}"
    result = invoke(secret_project, "build", "--image", NAME, "--no-cache", env={VARIABLE: value})
    assert result.code == 4, result.output
    assert "***" in result.stderr, result.stderr
    assert value not in result.output
