from __future__ import annotations

import csv
from pathlib import Path

import pytest

from imagefleet import workspace
from imagefleet.errors import ExitCode, InvalidEnvNameError
from imagefleet.workspace import Caller, RunSpec

ME = Caller(uid=1000, gid=1000)
ROOT = Caller(uid=0, gid=0)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["invoke", "run", "--image", "x", "--", "sh", "-c", "exit 3"], ("sh", "-c", "exit 3")),
        # Quoting survives: each word is one argument, spaces and all.
        (["invoke", "run", "--", "echo", "a  b", "'c'"], ("echo", "a  b", "'c'")),
        # Only the first `--` splits: the command may have its own.
        (["invoke", "run", "--", "git", "log", "--", "x"], ("git", "log", "--", "x")),
        (["invoke", "run", "--image", "x"], ()),
        (["invoke", "run", "--"], ()),
    ],
)
def test_command_after_dashdash(argv: list[str], command: tuple[str, ...]) -> None:
    assert workspace.command_after_dashdash(argv) == command


@pytest.mark.parametrize(
    ("workdir", "mounted"),
    [
        ("/workspace", "/workspace"),
        ("/src/app", "/src/app"),
        ("/src/app/", "/src/app"),
        ("", "/workspace"),
        (None, "/workspace"),
        ("/", "/workspace"),
        # Mounting over a home directory would hide the user's own files (github-runner's).
        ("/root", "/workspace"),
        ("/home/runner", "/workspace"),
        ("/home/app/src", "/workspace"),
        ("relative", "/workspace"),
    ],
)
def test_mount_point(workdir: str | None, mounted: str) -> None:
    assert workspace.mount_point(workdir) == mounted


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("", True),
        (None, True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:wheel", True),
        ("1000", False),
        ("act", False),
        ("1000:0", False),
        ("rootless", False),
    ],
)
def test_is_root(user: str | None, root: bool) -> None:
    assert workspace.is_root(user) is root


def test_root_images_run_as_the_caller() -> None:
    assert workspace.run_as("", ME) == "1000:1000"
    assert workspace.run_as("root", ME) == "1000:1000"
    assert workspace.run_as("0:0", Caller(uid=1000, gid=50)) == "1000:50"


def test_non_root_images_keep_their_user() -> None:
    assert workspace.run_as("act", ME) is None
    assert workspace.run_as("10001:10001", ME) is None
    assert workspace.run_as("act", ROOT) is None


def test_as_caller_overrides_the_image_user() -> None:
    assert workspace.run_as("act", ME, as_caller=True) == "1000:1000"
    assert workspace.run_as("act", ROOT, as_caller=True) == "0:0"


def test_a_root_caller_of_a_root_image_needs_no_user() -> None:
    assert workspace.run_as("", ROOT) is None
    assert workspace.run_as("root", ROOT, as_caller=True) is None


def test_env_names_are_checked_and_deduplicated() -> None:
    assert workspace.env_names(["FOO", "_BAR1", "FOO"]) == ("FOO", "_BAR1")
    assert workspace.env_names([]) == ()


@pytest.mark.parametrize("value", ["A=B", "1ABC", "", "A-B", "A B"])
def test_env_values_on_the_command_line_are_refused(value: str) -> None:
    with pytest.raises(InvalidEnvNameError) as caught:
        workspace.env_names([value])
    assert caught.value.exit_code == ExitCode.USAGE
    assert "never from the command line" in caught.value.hint


def _spec(**changes: object) -> RunSpec:
    fields: dict[str, object] = {
        "image": "fx",
        "ref": "fx:abc",
        "host_dir": Path("/home/me/src"),
        "workdir": "/workspace",
        "user": None,
        "env": (),
        "command": (),
        "tty": False,
        "name": "imagefleet-run-fx-1234",
    }
    fields.update(changes)
    return RunSpec(**fields)  # type: ignore[arg-type]


def test_argv_of_a_plain_run() -> None:
    assert _spec(command=("sh", "-c", "exit 3")).argv() == [
        "docker",
        "run",
        "--rm",
        "--init",
        "--interactive",
        "--name",
        "imagefleet-run-fx-1234",
        "--label",
        "imagefleet.run=fx",
        "--mount",
        "type=bind,source=/home/me/src,target=/workspace",
        "--workdir",
        "/workspace",
        "fx:abc",
        "sh",
        "-c",
        "exit 3",
    ]


def test_argv_tty_only_when_asked() -> None:
    assert "--tty" in _spec(tty=True).argv()
    assert "--tty" not in _spec(tty=False).argv()


def test_argv_as_the_caller_sets_a_writable_home() -> None:
    argv = _spec(user="1000:1000").argv()
    assert argv[argv.index("--user") + 1] == "1000:1000"
    assert "HOME=/tmp" in argv
    # A HOME the caller passes through wins.
    assert "HOME=/tmp" not in _spec(user="1000:1000", env=("HOME",)).argv()
    # The image's own user has its own home.
    assert "HOME=/tmp" not in _spec(user=None).argv()


def test_argv_passes_env_names_without_values() -> None:
    argv = _spec(env=("TOKEN", "FOO")).argv()
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--env"] == ["TOKEN", "FOO"]


def test_argv_command_comes_after_the_image_unchanged() -> None:
    argv = _spec(command=("--help", "-e", "x y")).argv()
    assert argv[-4:] == ["fx:abc", "--help", "-e", "x y"]


def test_argv_mount_quotes_paths_with_commas() -> None:
    argv = _spec(host_dir=Path("/src/a,b")).argv()
    value = argv[argv.index("--mount") + 1]
    assert next(csv.reader([value])) == ["type=bind", "source=/src/a,b", "target=/workspace"]


def test_plan_of_a_root_image() -> None:
    spec = workspace.plan(
        "fx",
        "fx:abc",
        {"User": "", "WorkingDir": ""},
        host_dir=Path("/src"),
        command=["make", "test"],
        env=["CI"],
        caller=ME,
        name="n",
    )
    assert spec.as_dict() == {
        "image": "fx",
        "ref": "fx:abc",
        "host_dir": "/src",
        "workdir": "/workspace",
        "user": "1000:1000",
        "env": ["CI"],
        "command": ["make", "test"],
        "tty": False,
        "name": "n",
        "entrypoint": None,
    }


def test_plan_of_a_non_root_image_with_a_workdir() -> None:
    spec = workspace.plan(
        "fx", "fx:abc", {"User": "rust", "WorkingDir": "/src"}, host_dir=Path("/x"), caller=ME
    )
    assert spec.user is None
    assert spec.workdir == "/src"
    assert spec.name.startswith("imagefleet-run-fx-")
    assert spec.name != workspace.plan("fx", "fx:abc", {}, host_dir=Path("/x"), caller=ME).name


def test_plan_of_a_shell_overrides_the_entrypoint() -> None:
    spec = workspace.plan("fx", "fx:abc", {}, host_dir=Path("/x"), caller=ME, open_shell=True)
    argv = spec.argv()
    assert argv[argv.index("--entrypoint") + 1] == "/bin/sh"
    assert argv[-3:] == ["fx:abc", "-c", workspace.SHELL_ARGS[1]]
    assert "bash" in workspace.SHELL_ARGS[1]
