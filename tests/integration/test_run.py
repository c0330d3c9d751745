"""`invoke run` and `invoke shell` on the real engine: exit codes, quoting, the mount and its
owner, environment, and no container left behind, also after SIGINT and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagefleet import localregistry, workspace
from imagefleet.engine import Engine
from tests.helpers import FIXTURES, REPO, Result, git, invoke, make_project, require

pytestmark = pytest.mark.integration

ROOT_IMAGE = "fx-workbench"  # no USER, no WORKDIR
USER_IMAGE = "fx-workbench-user"  # USER 1000:1000, WORKDIR /src
IMAGES = (ROOT_IMAGE, USER_IMAGE)


def _containers(engine: Engine) -> list[str]:
    """Containers (running or not) that a run of the fixture images left."""
    return [
        str(c.name)
        for image in IMAGES
        for c in engine.client.containers.list(
            all=True, filters={"label": f"imagefleet.run={image}"}
        )
    ]


def _remove_images(engine: Engine) -> None:
    for image in engine.client.images.list():
        for ref in image.tags:
            if ref.rsplit(":", 1)[0].rsplit("/", 1)[-1] in IMAGES:
                engine.remove(ref)


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine, busybox_path: Path
) -> Iterator[Path]:
    """A project of the two fixture images, built once for the module; removed afterwards."""
    root = make_project(
        tmp_path_factory.mktemp("run") / "project",
        {name: FIXTURES / "run" / name for name in IMAGES},
    )
    try:
        built = invoke(root, "build", "--all")
        assert built.code == 0, built.output
        yield root
    finally:
        for name in _containers(engine):
            engine.remove_container(name)
        _remove_images(engine)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The directory the CLI runs in (and mounts): outside the project."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def run(
    project: Path, cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> Result:
    """The real CLI, from ``cwd``, on ``project``'s images."""
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        cwd=cwd,
        env={**os.environ, "INVOKE_FLEET_ROOT": str(project), "COLUMNS": "200", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def test_exit_code_and_quoting_reach_the_container(
    project: Path, workdir: Path, engine: Engine
) -> None:
    assert run(project, workdir, "run", "--image", ROOT_IMAGE, "--", "sh", "-c", "exit 3").code == 3
    quoted = run(
        project,
        workdir,
        "run",
        "--image",
        ROOT_IMAGE,
        "--",
        "sh",
        "-c",
        'printf "%s|" "$@"',
        "_",
        "a  b",
        "c'd",
        "--flag",
    )
    assert quoted.code == 0, quoted.output
    assert quoted.stdout == "a  b|c'd|--flag|"
    assert _containers(engine) == []


def test_files_written_to_the_mount_belong_to_the_caller(
    project: Path, workdir: Path, engine: Engine
) -> None:
    (workdir / "input.txt").write_text("from the host\n")
    result = run(
        project,
        workdir,
        "run",
        "--image",
        ROOT_IMAGE,
        "--",
        "sh",
        "-c",
        'pwd; id -u; id -g; echo "$HOME"; cat input.txt > output.txt',
    )
    assert result.code == 0, result.output
    pwd, uid, gid, *rest = result.stdout.splitlines()
    assert pwd == "/workspace"
    assert (int(uid), int(gid)) == (os.getuid(), os.getgid())
    written = workdir / "output.txt"
    assert written.read_text() == "from the host\n"
    assert (written.stat().st_uid, written.stat().st_gid) == (os.getuid(), os.getgid())
    if os.getuid() != 0:  # the caller's uid has no home in the image: /tmp stands in
        assert rest == [workspace.CALLER_HOME]
    assert _containers(engine) == []


def test_a_non_root_image_keeps_its_user_and_workdir(project: Path, workdir: Path) -> None:
    result = run(project, workdir, "run", "--image", USER_IMAGE, "--", "sh", "-c", "pwd; id -u")
    assert result.code == 0, result.output
    assert result.stdout.split() == ["/src", "1000"]
    as_caller = run(project, workdir, "run", "--image", USER_IMAGE, "--as-caller", "--", "id", "-u")
    assert as_caller.code == 0, as_caller.output
    assert as_caller.stdout.strip() == str(os.getuid())


def test_env_passes_named_variables_only(project: Path, workdir: Path) -> None:
    result = run(
        project,
        workdir,
        "run",
        "--image",
        ROOT_IMAGE,
        "--env",
        "FLEET_TEST_VALUE",
        "--env",
        "FLEET_TEST_UNSET",
        "--",
        "sh",
        "-c",
        'echo "$FLEET_TEST_VALUE"; echo "${FLEET_TEST_UNSET-unset}"; echo "${FLEET_TEST_OTHER-no}"',
        env={"FLEET_TEST_VALUE": "a b $x", "FLEET_TEST_OTHER": "not passed"},
    )
    assert result.code == 0, result.output
    assert result.stdout.splitlines() == ["a b $x", "unset", "no"]
    # The value never shows on the command line, in the logs or in the output.
    assert "a b $x" not in result.stderr


def test_the_dirty_tree_still_finds_the_image(project: Path) -> None:
    # Running in the checkout writes into it: the next run must still find the build.
    first = run(project, project, "run", "--image", ROOT_IMAGE, "--", "sh", "-c", "echo > new.txt")
    assert first.code == 0, first.output
    try:
        again = run(project, project, "run", "--image", ROOT_IMAGE, "--", "true")
        assert again.code == 0, again.output
    finally:
        (project / "new.txt").unlink()


def test_shell_reads_commands_from_stdin(project: Path, workdir: Path, engine: Engine) -> None:
    result = run(project, workdir, "shell", "--image", ROOT_IMAGE, stdin="echo in $(pwd)\nexit 4\n")
    assert result.code == 4, result.output
    assert result.stdout.strip() == "in /workspace"
    assert _containers(engine) == []


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_and_removes_the_container(
    project: Path, workdir: Path, engine: Engine, signum: int, code: int
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(REPO),
            "run",
            "--image",
            ROOT_IMAGE,
            "--",
            "sleep",
            "30",
        ],
        cwd=workdir,
        env={**os.environ, "INVOKE_FLEET_ROOT": str(project)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not _containers(engine):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the container never started"
            time.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == code
        assert time.monotonic() - started < 15  # not the 30 s of sleep
        assert _containers(engine) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        for name in _containers(engine):
            engine.remove_container(name)


def test_not_built_is_a_clear_error(project: Path, workdir: Path) -> None:
    result = run(project, workdir, "run", "--image", ROOT_IMAGE, "--tag", "nope", "--", "true")
    assert result.code == 2, result.output
    assert f"error: {ROOT_IMAGE} has no local image to run: {ROOT_IMAGE}:nope" in result.stderr
    assert "--pull" in result.stderr


def test_neither_built_nor_pullable_is_a_clear_error(project: Path, workdir: Path) -> None:
    # A closed port on loopback: nothing listens there.
    result = run(
        project,
        workdir,
        "run",
        "--image",
        ROOT_IMAGE,
        "--pull",
        "--",
        "true",
        env={"INVOKE_FLEET_REGISTRY": "127.0.0.1:9/fleet"},
    )
    assert result.code == 5, result.output
    assert f"127.0.0.1:9/fleet/{ROOT_IMAGE}:latest cannot be pulled" in result.stderr
    assert "hint: " in result.stderr


def test_pull_runs_the_registry_image(
    project: Path, workdir: Path, engine: Engine, tmp_path: Path
) -> None:
    if localregistry.find_binary() is None:
        require("no registry binary", "apt-get install docker-registry")
    sha = git(project, "rev-parse", "HEAD")
    with localregistry.running(tmp_path / "registry") as registry:
        target = f"{registry.address}/fleet"
        try:
            pushed = invoke(project, "push", "--image", ROOT_IMAGE, "--registry", target)
            assert pushed.code == 0, pushed.output
            # Only the registry has it now under this reference: the run must pull it.
            engine.remove(f"{target}/{ROOT_IMAGE}:{sha}")
            result = run(
                project,
                workdir,
                "run",
                "--image",
                ROOT_IMAGE,
                "--pull",
                "--tag",
                sha,
                "--",
                "sh",
                "-c",
                "exit 7",
                env={"INVOKE_FLEET_REGISTRY": target},
            )
            assert result.code == 7, result.output
            assert engine.image_id(f"{target}/{ROOT_IMAGE}:{sha}") is not None
        finally:
            for image in engine.client.images.list():
                for ref in image.tags:
                    if ref.startswith(f"{registry.address}/"):
                        engine.remove(ref)
