"""The real CLI (``invoke …``) on inputs that must fail fast, clearly, and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, Result, git, invoke, make_project

NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"), with_busybox=False)


def _fails_cleanly(result: Result, code: int, *needles: str) -> None:
    assert result.code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-2].startswith("error: ") or any(line.startswith("error: ") for line in lines), (
        result.stderr
    )
    assert lines[-1].startswith("hint: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_the_cli_starts_without_heavy_imports() -> None:
    # `invoke --list` and `invoke --help TASK` import the namespace and nothing else: the test
    # runner, the Docker SDK, pydantic, apprise and rich load when a task needs them.
    probe = (
        "import imagefleet.tasks, sys; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in {'pytest', 'docker', 'pydantic', 'apprise', 'rich'}))"
    )
    path = os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_list_shows_every_task_with_help() -> None:
    result = invoke(Path.cwd(), "--list")
    assert result.code == 0
    for name in ("build", "list", "push", "tag", "registry.start", "registry.stop"):
        assert f"  {name} " in result.stdout
    help_text = invoke(Path.cwd(), "--help", "build").stdout
    for flag in (
        "--image",
        "--all",
        "--build-arg",
        "--platform",
        "--no-cache",
        "--dry-run",
        "--json",
    ):
        assert flag in help_text


def test_list_json(project: Path) -> None:
    result = invoke(project, "list", "--json")
    assert result.code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["fx-hello"]["version"] == "1.4.2"
    assert rows["fx-hello"]["base"] == "scratch"
    assert rows["fx-plain"]["description"].startswith("A plain fixture")


def test_dry_run_prints_the_plan_without_docker(project: Path) -> None:
    result = invoke(
        project,
        "build",
        "--image",
        "fx-hello",
        "--dry-run",
        "--json",
        "--build-arg",
        "GREETING=hi",
        env=NO_DAEMON,
    )
    assert result.code == 0, result.output
    [plan] = json.loads(result.stdout)["images"]
    assert plan["build_args"]["GREETING"] == "hi"
    assert plan["build_arg_sources"] == {
        "BASE": "dockerfile",
        "GREETING": "command line",
        "AUDIENCE": "manifest",
    }
    assert plan["tags"][2:] == ["1.4.2", "1.4", "1", "stable", "latest"]


def test_dry_run_shows_build_secrets_never_values(tmp_path: Path) -> None:
    name = "fx-secrets-token"
    root = make_project(tmp_path / "p", {name: FIXTURES / "secrets" / name}, with_busybox=False)
    value = "fx-dry-run-value-4b1d"
    env = {**NO_DAEMON, "FX_SECRETS_TOKEN": value}
    text = invoke(root, "build", "--image", name, "--dry-run", env=env)
    assert text.code == 0, text.output
    assert "secret     token from $FX_SECRETS_TOKEN (set)" in text.stdout
    as_json = invoke(root, "build", "--image", name, "--dry-run", "--json", env=env)
    [plan] = json.loads(as_json.stdout)["images"]
    assert plan["secrets"] == {"token": {"env": "FX_SECRETS_TOKEN", "optional": False}}
    assert value not in text.output + as_json.output
    unset = invoke(root, "build", "--image", name, "--dry-run", env={**env, "FX_SECRETS_TOKEN": ""})
    assert unset.code == 0, unset.output  # a dry run shows; only a build refuses
    assert "token from $FX_SECRETS_TOKEN (not set)" in unset.stdout


def test_unknown_image_suggests(project: Path) -> None:
    _fails_cleanly(
        invoke(project, "build", "--image", "fx-helo"),
        2,
        "unknown image 'fx-helo'",
        "did you mean fx-hello",
    )


def test_no_selection(project: Path) -> None:
    _fails_cleanly(invoke(project, "build"), 2, "no image selected")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("push", "--image", "fx-hello", "--registry", "https://ghcr.io/org"), "no URL scheme"),
        (("push", "--image", "fx-hello", "--registry", "localhost:5000/Team"), "namespace"),
        (("tag", "--image", "fx-hello", "--registry", "not a registry"), "invalid registry"),
        (("build", "--image", "fx-hello", "--build-arg", "NOPE"), "invalid --build-arg"),
        (("build", "--image", "fx-hello", "--build-arg", "TYPO=1"), "TYPO is not declared"),
        (("build", "--image", "fx-hello", "--platform", "amd64"), "invalid platform"),
    ],
)
def test_bad_input_is_rejected_before_docker(
    project: Path, args: tuple[str, ...], needle: str
) -> None:
    # The daemon is unreachable on purpose: bad input must be caught before it matters.
    _fails_cleanly(invoke(project, *args, env=NO_DAEMON), 2, needle)


def test_bad_settings_in_invoke_yaml_name_the_file(project: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "fleet.yaml"
    runtime.write_text("fleet:\n  push:\n    attempts: -3\n")
    _fails_cleanly(
        invoke(project, "-f", str(runtime), "list"),
        2,
        "invalid fleet.push.attempts -3 (from invoke.yaml): must be at least 1",
    )
    runtime.write_text("fleet:\n  local_registry:\n    prot: 5001\n")
    _fails_cleanly(
        invoke(project, "-f", str(runtime), "registry.status"),
        2,
        "unknown setting fleet.local_registry.prot",
        "did you mean fleet.local_registry.port?",
    )


def test_list_settings_from_the_environment_are_comma_separated(project: Path) -> None:
    result = invoke(
        project,
        "plan",
        "--all",
        "--json",
        env={"INVOKE_FLEET_PLATFORMS": "linux/amd64,linux/arm64"},
    )
    assert result.code == 0, result.output
    images = json.loads(result.stdout)["images"]
    assert {tuple(i["platforms"]) for i in images} == {("linux/amd64", "linux/arm64")}


@pytest.mark.parametrize(
    "args", [("no-such-task",), ("build", "--no-such-flag"), ("build", "--jobs")]
)
def test_invokes_own_parse_errors_stay_exit_1(args: tuple[str, ...]) -> None:
    # Refused by Invoke before any task code runs: its message, its exit code (the README says so).
    result = invoke(Path.cwd(), *args)
    assert result.code == 1, result.output
    assert "Traceback" not in result.output


def test_missing_daemon(project: Path) -> None:
    _fails_cleanly(
        invoke(project, "build", "--image", "fx-hello", env=NO_DAEMON),
        3,
        "Docker daemon not reachable",
        "DOCKER_HOST",
    )


def test_bad_manifest_names_file_and_line(tmp_path: Path) -> None:
    root = make_project(tmp_path, with_busybox=False)
    (root / "images" / "fx-hello" / "image.yml").write_text("description: x\nversion: one\n")
    _fails_cleanly(invoke(root, "list"), 2, "images/fx-hello/image.yml:2: version")


def test_not_a_git_checkout(tmp_path: Path) -> None:
    (tmp_path / "images" / "a").mkdir(parents=True)
    (tmp_path / "images" / "a" / "Dockerfile").write_text("FROM scratch\n")
    _fails_cleanly(invoke(tmp_path, "build", "--image", "a", "--dry-run"), 3, "not a git checkout")


def test_invalid_builder_setting(project: Path) -> None:
    _fails_cleanly(
        invoke(project, "list", env={"INVOKE_FLEET_BUILDER": "classic,kaniko"}),
        2,
        "invalid builder 'classic, kaniko'",
    )


@pytest.fixture
def family(tmp_path: Path) -> Path:
    from tests.helpers import FIXTURES

    return make_project(
        tmp_path / "family",
        {p.name: p for p in (FIXTURES / "family").iterdir()},
        with_busybox=False,
    )


FAMILY_ENV = {"INVOKE_FLEET_REGISTRY": "localhost:5000/fleet", **NO_DAEMON}


def test_changed_writes_github_outputs_and_summary(family: Path, tmp_path: Path) -> None:
    from tests.helpers import git

    (family / "images" / "fx-middle" / "NOTES.md").write_text("notes\n")
    git(family, "add", "-A")
    git(family, "commit", "-q", "-m", "middle notes")
    output, summary = tmp_path / "out", tmp_path / "summary.md"
    result = invoke(
        family,
        "changed",
        "--base",
        "HEAD~1",
        "--github-output",
        env={**FAMILY_ENV, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 0, result.output
    assert result.stdout.split() == ["fx-middle", "fx-leaf-a", "fx-leaf-b"]
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(lines["matrix"]) == {
        "include": [{"image": "fx-middle"}, {"image": "fx-leaf-a"}, {"image": "fx-leaf-b"}]
    }
    assert json.loads(lines["images"]) == ["fx-middle", "fx-leaf-a", "fx-leaf-b"]
    assert lines["any"] == "true"
    assert "| `fx-leaf-a` | builds on fx-middle |" in summary.read_text()


def test_changed_falls_back_with_a_warning(family: Path) -> None:
    result = invoke(family, "changed", "--base", "no-such-ref", "--json", env=FAMILY_ENV)
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        data["fallback"] == "HEAD is the first commit: there is nothing before it to compare "
        "with 'no-such-ref'"
    )
    assert len(data["images"]) == 5
    assert "building everything" in result.stderr


def test_plan_shows_waves_and_parents_without_docker(family: Path) -> None:
    result = invoke(family, "plan", "--all", "--json", env=FAMILY_ENV)
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert data["waves"] == [["fx-base", "fx-solo"], ["fx-middle"], ["fx-leaf-a", "fx-leaf-b"]]
    leaf_b = next(i for i in data["images"] if i["image"] == "fx-leaf-b")
    assert leaf_b["parents"] == ["fx-middle", "fx-base"]
    assert leaf_b["wave"] == 2
    text = invoke(family, "plan", "--image", "fx-leaf-a", env=FAMILY_ENV)
    assert "wave 1: fx-leaf-a" in text.stdout
    assert "base       localhost:5000/fleet/fx-middle:latest" in text.stdout


def test_plan_matrix_writes_every_wave_of_the_fleet(family: Path, tmp_path: Path) -> None:
    from tests.helpers import git

    (family / "images" / "fx-middle" / "NOTES.md").write_text("notes\n")
    git(family, "add", "-A")
    git(family, "commit", "-q", "-m", "middle notes")
    output, summary = tmp_path / "out", tmp_path / "summary.md"
    result = invoke(
        family,
        "plan",
        "--matrix",
        "--changed",
        "--base",
        "HEAD~1",
        "--github-output",
        env={**FAMILY_ENV, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 0, result.output
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    # The fleet is three waves deep; the change needs two: the third is written, empty.
    assert json.loads(lines["wave-1"]) == ["fx-middle"]
    assert json.loads(lines["wave-2"]) == ["fx-leaf-a", "fx-leaf-b"]
    assert lines["wave-3"] == "[]"
    assert (lines["depth"], lines["any"]) == ("2", "true")
    assert json.loads(lines["images"]) == ["fx-middle", "fx-leaf-a", "fx-leaf-b"]
    assert (lines["registry"], lines["registry-host"]) == ("localhost:5000/fleet", "localhost:5000")
    assert lines["deleted"] == "[]"
    # stdout shows the same matrices as the outputs (no Docker was asked).
    assert result.stdout.splitlines()[:4] == [
        'wave-1=["fx-middle"]',
        'wave-2=["fx-leaf-a", "fx-leaf-b"]',
        "wave-3=[]",
        "depth=2",
    ]
    text = summary.read_text()
    assert "| 3 | (nothing: skipped) |" in text
    assert "| `fx-leaf-a` | builds on fx-middle |" in text


def test_plan_matrix_json_and_nothing_changed(family: Path) -> None:
    everything = invoke(family, "plan", "--matrix", "--all", "--json", env=FAMILY_ENV)
    assert everything.code == 0, everything.output
    data = json.loads(everything.stdout)
    assert data["wave-1"] == ["fx-base", "fx-solo"]
    assert (data["depth"], data["deepest"], data["any"]) == (3, 3, True)
    nothing = invoke(family, "plan", "--matrix", "--changed", "--base", "HEAD", env=FAMILY_ENV)
    assert nothing.code == 0, nothing.output
    assert nothing.stdout.splitlines() == [
        "wave-1=[]",
        "wave-2=[]",
        "wave-3=[]",
        "depth=0",
        "any=false",
        "images=[]",
    ]


def test_plan_github_output_needs_matrix(family: Path, tmp_path: Path) -> None:
    result = invoke(
        family,
        "plan",
        "--all",
        "--github-output",
        env={**FAMILY_ENV, "GITHUB_OUTPUT": str(tmp_path / "out")},
    )
    _fails_cleanly(result, 2, "it needs --matrix")
    assert not (tmp_path / "out").exists()


def test_build_rejects_two_selections_and_bad_jobs(family: Path) -> None:
    _fails_cleanly(
        invoke(family, "build", "--all", "--image", "fx-base", env=FAMILY_ENV),
        2,
        "choose one of --image, --all and --changed",
    )
    _fails_cleanly(
        invoke(family, "build", "--all", "--jobs", "0", env=FAMILY_ENV), 2, "invalid --jobs 0"
    )


def test_cycle_is_reported_by_name(family: Path) -> None:
    from tests.helpers import git

    base = family / "images" / "fx-base" / "Dockerfile"
    base.write_text("FROM localhost:5000/fleet/fx-leaf-a:latest\n")
    git(family, "commit", "-q", "-am", "cycle")
    _fails_cleanly(invoke(family, "list", env=FAMILY_ENV), 2, "dependency cycle between images: ")


def test_every_short_flag_is_a_letter() -> None:
    # Invoke picks short flags from the letters of a flag's name, underscores included: a
    # "-_" flag would be unusable (and confusing in --help).
    from imagefleet.tasks import namespace

    collection = namespace()
    for name in collection.task_names:
        task = collection[name]
        saved = dict(task.help)  # get_arguments() pops the help texts: later tests need them
        try:
            arguments = task.get_arguments()
        finally:
            task.help = saved
        for argument in arguments:
            shorts = [n for n in argument.names if len(n) == 1]
            assert all(n.isalpha() for n in shorts), (name, argument.names)


def test_run_help_covers_every_flag() -> None:
    for name in ("run", "shell"):
        help_text = invoke(Path.cwd(), "--help", name).stdout
        for flag in ("--image", "--tag", "--pull", "--env", "--as-caller"):
            assert flag in help_text, (name, flag)
    help_text = invoke(Path.cwd(), "--help", "act").stdout
    for flag in ("-w", "--workflow", "-j", "--job", "--list", "--dry-run"):
        assert flag in help_text


MARKUP = "Says [/bold] [red]x[/] :smile: hello"


@pytest.fixture(scope="module")
def marked_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose description holds rich markup and an emoji code."""
    root = make_project(tmp_path_factory.mktemp("markup"), with_busybox=False)
    manifest = root / "images" / "fx-hello" / "image.yml"
    text = manifest.read_text()
    start = text.index("description:")
    end = text.index("\n", start)
    manifest.write_text(text[:start] + f'description: "{MARKUP}"' + text[end:])
    git(root, "commit", "-qam", "markup in a description")
    return root


@pytest.mark.parametrize(
    "args",
    [("plan", "--all"), ("list",), ("build", "--image", "fx-hello", "--dry-run")],
)
def test_user_text_prints_literally(marked_up: Path, args: tuple[str, ...]) -> None:
    result = invoke(marked_up, *args, env=NO_DAEMON)
    assert result.code == 0, result.output
    assert MARKUP in result.stdout
    assert "😄" not in result.output


@pytest.mark.parametrize("args", [("plan", "--all", "--json"), ("list", "--json")])
def test_user_text_in_json_is_the_text(marked_up: Path, args: tuple[str, ...]) -> None:
    result = invoke(marked_up, *args, env=NO_DAEMON)
    assert result.code == 0, result.output
    assert MARKUP in json.dumps(json.loads(result.stdout), ensure_ascii=False)


def test_lint_prints_user_text_literally(tmp_path: Path) -> None:
    root = make_project(tmp_path, with_busybox=False)
    (root / "images" / "fx-plain" / "image.yml").write_text(f'version: "{MARKUP}"\n')
    result = invoke(root, "lint", "--image", "fx-plain")
    assert result.code == 8, result.output
    assert "Traceback" not in result.output
    assert MARKUP in result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("build", "--image", "fx-helo", "--json"), 2),
        (("build", "--image", "fx-hello", "--json"), 3),  # no daemon
        (("plan", "--image", "fx-helo", "--json"), 2),
        (("changed", "--github-output", "--json"), 2),  # $GITHUB_OUTPUT unset
        (("tag", "--image", "fx-helo", "--json"), 2),
        (("push", "--image", "fx-hello", "--registry", "not a registry", "--json"), 2),
        (("push", "--image", "fx-hello", "--json"), 3),  # no daemon
        (("test", "--image", "fx-helo", "--json"), 2),
        (("scan", "--image", "fx-hello", "--fail-on", "nope", "--json"), 2),
        (("release", "--image", "fx-helo", "--json"), 2),
        (
            (
                "helm-deploy",
                "--release",
                "r",
                "--namespace",
                "ns",
                "--chart",
                "/no/chart",
                "--json",
            ),
            2,
        ),
    ],
)
def test_failing_json_runs_print_one_json_object(
    project: Path, args: tuple[str, ...], code: int
) -> None:
    result = invoke(project, *args, env={**NO_DAEMON, "GITHUB_OUTPUT": ""})
    _fails_cleanly(result, code)
    failure = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    error_line = next(x for x in result.stderr.splitlines() if x.startswith("error: "))
    hint_line = result.stderr.splitlines()[-1]
    assert failure["error"] == {
        "code": code,
        "message": error_line.removeprefix("error: "),
        "hint": hint_line.removeprefix("hint: "),
    }


def test_failing_list_json_prints_one_json_object(tmp_path: Path) -> None:
    root = make_project(tmp_path, with_busybox=False)
    (root / "images" / "fx-plain" / "image.yml").write_text("version: 1\nversion: 2\n")
    result = invoke(root, "list", "--json")
    _fails_cleanly(result, 2, "duplicate key 'version'")
    assert json.loads(result.stdout)["error"]["code"] == 2


def test_failing_lint_json_prints_the_report_beside_its_error(tmp_path: Path) -> None:
    root = make_project(tmp_path, with_busybox=False)
    result = invoke(root, "lint", "--image", "fx-plain", "--format", "json")
    assert result.code == 8, result.output
    failure = json.loads(result.stdout)
    assert failure["error"]["code"] == 8
    assert {v["rule"] for v in failure["policy"]} >= {"readme"}
    assert "hadolint" in failure


def test_speaks_errors_prints_partial_results_beside_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from invoke.exceptions import Exit

    from imagefleet.errors import ImagesFailedError
    from imagefleet.tasks._common import partial, speaks_errors

    @speaks_errors
    def task(c: object, json: bool = False) -> None:
        partial(images=[{"image": "a", "status": "built"}])
        raise ImagesFailedError(failed=1, total=2, names="b")

    with pytest.raises(Exit) as ended:
        task(None, json=True)
    assert ended.value.code == 4
    printed = capsys.readouterr()
    assert json.loads(printed.out) == {
        "error": {
            "code": 4,
            "message": "1 of 2 images failed (b)",
            "hint": ImagesFailedError(failed=1, total=2, names="b").hint,
        },
        "images": [{"image": "a", "status": "built"}],
    }
    assert "error: 1 of 2 images failed (b)" in printed.err

    with pytest.raises(Exit):
        task(None)  # without --json: nothing on stdout
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [(KeyboardInterrupt(), 130, "interrupted"), (ValueError("boom"), 1, "unexpected ValueError")],
)
def test_speaks_errors_json_for_interrupts_and_bugs(
    capsys: pytest.CaptureFixture[str], raised: BaseException, code: int, message: str
) -> None:
    from invoke.exceptions import Exit

    from imagefleet.tasks._common import speaks_errors

    @speaks_errors
    def task(c: object, json: bool = False) -> None:
        raise raised

    with pytest.raises(Exit) as ended:
        task(None, json=True)
    assert ended.value.code == code
    failure = json.loads(capsys.readouterr().out)
    assert failure["error"]["code"] == code
    assert failure["error"]["message"].startswith(message)


def test_build_refuses_an_unknown_cache_kind(project: Path) -> None:
    _fails_cleanly(
        invoke(project, "build", "--all", "--cache", "gha", env=NO_DAEMON),
        2,
        "--cache gha is not possible here",
    )


def test_build_refuses_a_local_mode_beside_builder_names(project: Path) -> None:
    _fails_cleanly(
        invoke(project, "build", "--all", "--builder", "classic", "--builder", "nodes"),
        2,
        "invalid builder 'classic, nodes'",
    )


def test_node_builds_add_a_fleet_sbom_generator_to_the_run(
    family: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    from imagefleet.errors import UnknownSbomGeneratorError
    from imagefleet.settings import Settings
    from imagefleet.supplychain import Generator
    from imagefleet.tasks.nodes import with_sbom_generator
    from imagefleet.tasks.selection import plans_for, select

    s = Settings.from_config({"root": str(family), "registry": "localhost:5000/fleet"})
    selection = select(s, ["fx-middle"], False)
    plans = plans_for(s, selection, ancestors=True)
    assert [p.name for p in plans] == ["fx-base", "fx-middle"]

    solo, generator = with_sbom_generator(
        replace(s, sbom_generator="fx-solo"), selection, plans, None
    )
    assert generator == Generator(image="fx-solo")
    assert [p.name for p in solo] == ["fx-solo", "fx-base", "fx-middle"]
    same, _ = with_sbom_generator(replace(s, sbom_generator="fx-base"), selection, plans, None)
    assert same == plans  # already in the run

    absent, none = with_sbom_generator(s, selection, plans, None)  # the default: no such image
    assert (absent, none) == (plans, None)
    assert "no SBOM attestations: this fleet has no image sbom-scanner" in capsys.readouterr().err
    off, _ = with_sbom_generator(replace(s, sbom_generator=""), selection, plans, None)
    assert off == plans
    assert capsys.readouterr().err == ""
    with pytest.raises(UnknownSbomGeneratorError):
        with_sbom_generator(replace(s, sbom_generator="fx-typo"), selection, plans, None)
