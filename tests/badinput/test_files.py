"""Bad files: malformed manifests and Dockerfiles (named with file and line), a dependency
cycle, a project that is not a git checkout, a shallow clone for a release."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.badinput.conftest import Attempt
from tests.badinput.refusal import Case, Setup, cases
from tests.helpers import git

HELLO = "images/fx-hello"


def writes(relative: str, content: str | bytes) -> Setup:
    """A setup that writes ``content`` to ``relative`` and commits it (a clean tree: what a
    refused run must leave clean)."""

    def setup(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"write {relative}")

    return setup


def then(*steps: Callable[[Path], None]) -> Setup:
    def setup(root: Path) -> None:
        for step in steps:
            step(root)
        git(root, "add", "-A")
        git(root, "commit", "-qm", "setup", "--allow-empty")

    return setup


def _dockerfile_is_a_directory(root: Path) -> None:
    dockerfile = root / "images" / "fx-plain" / "Dockerfile"
    dockerfile.unlink()
    (dockerfile / "inner").mkdir(parents=True)
    (dockerfile / "inner" / "x").write_text("x\n")


def _no_dockerfile(root: Path) -> None:
    (root / "images" / "fx-plain" / "Dockerfile").unlink()
    (root / "images" / "fx-plain" / "image.yml").write_text("description: no Dockerfile\n")


def _renamed(to: str) -> Callable[[Path], None]:
    def step(root: Path) -> None:
        shutil.move(root / "images" / "fx-plain", root / "images" / to)

    return step


MANIFEST = f"{HELLO}/image.yml"
DOCKERFILE = f"{HELLO}/Dockerfile"

FILES = cases(
    Case(
        "manifest-bad-version",
        ("list",),
        2,
        f"{MANIFEST}:2: version",
        setup=writes(MANIFEST, "description: x\nversion: one\n"),
    ),
    Case(
        "manifest-duplicate-key",
        ("plan", "--all"),
        2,
        "duplicate key 'version'",
        setup=writes(MANIFEST, "version: 1.0.0\nversion: 2.0.0\n"),
    ),
    Case(
        "manifest-not-utf8",
        ("build", "--image", "fx-hello", "--dry-run"),
        2,
        "not UTF-8",
        setup=writes(MANIFEST, b"description: caf\xe9\n"),
    ),
    Case(
        "manifest-yaml-syntax",
        ("list",),
        2,
        "invalid YAML",
        setup=writes(MANIFEST, "description: [unclosed\n"),
    ),
    Case(
        "manifest-a-list",
        ("plan", "--all"),
        2,
        "expected a mapping",
        setup=writes(MANIFEST, "- a\n- b\n"),
    ),
    Case(
        "manifest-unknown-field",
        ("list", "--json"),
        2,
        "unknown field 'descripton'",
        setup=writes(MANIFEST, "descripton: typo\n"),
    ),
    Case(
        "manifest-build-arg-undeclared",
        ("plan", "--all"),
        2,
        "not declared with ARG",
        setup=writes(MANIFEST, "build_args:\n  NOPE: 1\n"),
    ),
    Case(
        "manifest-bad-name",
        ("list",),
        2,
        "image.yml:1: name",
        setup=writes(MANIFEST, "name: Bad Name\n"),
    ),
    Case(
        "manifest-tag-invalid",
        ("plan", "--all"),
        2,
        "tags",
        setup=writes(MANIFEST, "tags:\n  - -bad\n"),
    ),
    Case(
        "manifest-platform-invalid",
        ("build", "--image", "fx-hello"),
        2,
        "platform",
        setup=writes(MANIFEST, "platforms:\n  - amd64\n"),
    ),
    Case(
        "manifest-without-dockerfile",
        ("list",),
        2,
        "an image manifest without a Dockerfile",
        setup=then(_no_dockerfile),
    ),
    Case(
        "manifest-without-dockerfile-lint",
        ("lint",),
        2,
        "without a Dockerfile",
        setup=then(_no_dockerfile),
    ),
    Case(
        "dockerfile-a-directory",
        ("plan", "--all"),
        2,
        "is a directory, not a file",
        setup=then(_dockerfile_is_a_directory),
    ),
    Case(
        "dockerfile-not-utf8",
        ("list",),
        2,
        "not UTF-8",
        setup=writes(DOCKERFILE, b"FROM scratch\nLABEL x=\xff\n"),
    ),
    Case(
        "dockerfile-no-from",
        ("plan", "--all"),
        2,
        "no FROM instruction",
        setup=writes(DOCKERFILE, "# nothing\nARG X=1\n"),
    ),
    Case(
        "dockerfile-run-before-from",
        ("build", "--image", "fx-hello", "--dry-run"),
        2,
        "RUN before the first FROM",
        setup=writes(DOCKERFILE, "RUN true\nFROM scratch\n"),
    ),
    Case(
        "dockerfile-bad-from", ("list",), 2, "cannot parse FROM", setup=writes(DOCKERFILE, "FROM\n")
    ),
    Case(
        "dockerfile-bad-escape",
        ("list",),
        2,
        "invalid escape directive",
        setup=writes(DOCKERFILE, "# escape=x\nFROM scratch\n"),
    ),
    Case(
        "dockerfile-bad-quoting",
        ("plan", "--all"),
        2,
        "cannot parse",
        setup=writes(DOCKERFILE, 'FROM scratch\nARG X="unclosed\n'),
    ),
    Case("image-directory-upper-case", ("list",), 2, "Fx-Plain", setup=then(_renamed("Fx-Plain"))),
    Case(
        "duplicate-image-names",
        ("list",),
        2,
        "two images are called 'fx-hello'",
        setup=writes("images/fx-plain/image.yml", "name: fx-hello\n"),
    ),
    Case("docs-image-without-readme", ("docs", "--no-build"), 2, "no README.md"),
    Case(
        "manifest-secret-not-a-mapping",
        ("plan", "--all"),
        2,
        "secrets.npm: Input should be a valid dictionary",
        setup=writes(f"{HELLO}/image.yml", "secrets:\n  npm: NPM_TOKEN\n"),
    ),
    Case(
        "manifest-secret-with-a-value",
        ("build", "--image", "fx-hello", "--dry-run"),
        2,
        "unknown field 'secrets.npm.value'",
        setup=writes(f"{HELLO}/image.yml", "secrets:\n  npm:\n    env: X\n    value: abc\n"),
    ),
    Case(
        "manifest-context-without-executables",
        ("list",),
        2,
        "executables: Field required",
        setup=writes(f"{HELLO}/image.yml", "contexts:\n  tools:\n    files: [a]\n"),
    ),
)


@pytest.mark.parametrize("case", FILES)
def test_bad_file_is_refused_with_file_and_line(
    attempt: Attempt, project: Path, case: Case
) -> None:
    attempt(case, project)


def _cycle(root: Path) -> None:
    base = root / "images" / "fx-base" / "Dockerfile"
    base.write_text("FROM localhost:5000/fleet/fx-leaf-a:latest\n")


CYCLES = cases(
    *(
        Case(
            f"cycle-{args[0]}",
            args,
            2,
            "dependency cycle between images: ",
            {"INVOKE_FLEET_REGISTRY": "localhost:5000/fleet"},
            then(_cycle),
        )
        for args in (("list",), ("plan", "--all"), ("build", "--all", "--dry-run"), ("changed",))
    )
)


@pytest.mark.parametrize("case", CYCLES)
def test_dependency_cycle_is_named(attempt: Attempt, family: Path, case: Case) -> None:
    attempt(case, family)


NOT_GIT = cases(
    Case("not-git-build", ("build", "--image", "a", "--dry-run"), 3, "not a git checkout"),
    Case("not-git-plan", ("plan", "--all"), 3, "not a git checkout"),
    Case("not-git-changed", ("changed",), 3, "not a git checkout"),
    Case("not-git-release", ("release", "--all", "--dry-run"), 3, "not a git checkout"),
    Case("not-git-tag", ("tag", "--image", "a"), 3, "not a git checkout"),
)


@pytest.mark.parametrize("case", NOT_GIT)
def test_not_a_git_checkout(attempt: Attempt, tmp_path: Path, case: Case) -> None:
    root = tmp_path / "plain"
    (root / "images" / "a").mkdir(parents=True)
    (root / "images" / "a" / "Dockerfile").write_text("FROM scratch\n")
    attempt(case, root)


def test_release_in_a_shallow_clone(attempt: Attempt, project: Path, tmp_path: Path) -> None:
    (project / "images" / "fx-hello" / "NOTES.md").write_text("more\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "feat(fx-hello): notes")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{project}", str(shallow))
    attempt(Case("shallow", ("release", "--all"), 3, "is a shallow clone"), shallow)
