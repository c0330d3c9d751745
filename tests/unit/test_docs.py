"""Generated docs and catalog entities: current, complete, and failing loudly when they drift.

The drift checks run on the repository itself and on temporary copies of its layout (an image
added without its page, an image removed, a README dropped). The Backstage validation runs
Backstage's own @backstage/catalog-model through Node.js (skipped without Node.js, outside CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from imagefleet import catalog, docs
from imagefleet.errors import DocsError, ExitCode, ManifestError, catalogue
from imagefleet.tags import version_tags
from imagefleet.tasks import docs as docs_tasks
from imagefleet.tasks import namespace
from tests.helpers import FIXTURES, REPO

BACKSTAGE = REPO / "backstage"
GENERATED_DIRS = ("docs/images",)
GENERATED_PAGES = ("docs/reference/tasks.md", "docs/reference/errors.md")


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs_tasks.generated(REPO)


def _entities(root: Path = REPO) -> list[dict[str, Any]]:
    text = (root / docs.CATALOG_INFO).read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _copy_layout(root: Path) -> Path:
    """The parts of the repository the generated files come from and go to."""
    shutil.copytree(REPO / "images", root / "images")
    for name in ("invoke.yaml", docs.MKDOCS_YML, docs.CATALOG_INFO):
        shutil.copy2(REPO / name, root / name)
    for name in (*GENERATED_DIRS, "docs/reference"):
        shutil.copytree(REPO / name, root / name)
    return root


def _drift(root: Path) -> dict[str, str]:
    return {d.path: d.state for d in docs.check(root, docs_tasks.generated(root))}


# -- the repository itself -----------------------------------------------------------------------


def test_generated_files_are_current(generated: dict[str, str]) -> None:
    drift = docs.check(REPO, generated)
    diff = "\n".join(line for item in drift for line in item.diff[:40])
    assert not drift, f"run `invoke docs` and commit: {', '.join(map(str, drift))}\n{diff}"


def test_every_image_has_a_page_a_nav_entry_and_an_entity() -> None:
    names = set(catalog.discover(REPO / "images").names)
    assert len(names) >= 6
    nav = (REPO / docs.MKDOCS_YML).read_text(encoding="utf-8")
    for name in names:
        assert (REPO / "docs" / "images" / f"{name}.md").is_file(), name
        assert f"images/{name}.md" in nav, name
    images = {
        e["metadata"]["name"]
        for e in _entities()
        if e["kind"] == "Component" and e["spec"]["type"] == docs.IMAGE_TYPE
    }
    assert images == names


def test_every_annotation_path_exists() -> None:
    entities = _entities()
    refs = {
        f"{e['kind'].lower()}:{e['metadata'].get('namespace', 'default')}/{e['metadata']['name']}"
        for e in entities
    }
    checked = 0
    for entity in entities:
        for key, value in (entity["metadata"].get("annotations") or {}).items():
            where = f"{entity['metadata']['name']}: {key}: {value}"
            if value.startswith("dir:"):
                assert (REPO / value.removeprefix("dir:")).exists(), where
            elif key in docs.PATH_ANNOTATIONS:
                assert (REPO / value).exists(), where
            elif key == docs.TECHDOCS_ENTITY_PATH:
                page = value.strip("/")
                assert (REPO / "docs" / f"{page}.md").is_file() or (
                    REPO / "docs" / page / "index.md"
                ).is_file(), where
            elif key == docs.TECHDOCS_ENTITY:
                assert value in refs, where
            else:
                continue
            checked += 1
    assert checked >= 2 + 2 * 6  # techdocs-ref, adr-location, and two per image


def test_every_flag_of_every_task_has_help() -> None:
    for task in docs_tasks.describe(namespace()):
        assert task.summary, f"{task.name} has no docstring"
        for flag in task.flags:
            assert flag.help, f"{task.name} {flag.names[0]} has no help"


def test_the_task_reference_shows_every_task_and_flag() -> None:
    page = (REPO / docs.TASKS_PAGE).read_text(encoding="utf-8")
    for task in docs_tasks.describe(namespace()):
        section = page.split(f"## invoke {task.name}\n", 1)[1].split("\n## ", 1)[0]
        for flag in task.flags:
            assert f"`{flag.names[0]}`" in section, (task.name, flag.names[0])


def test_the_manifest_page_documents_every_field() -> None:
    page = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    for field in catalog.Manifest.model_fields:
        assert f"| `{field}` |" in page, field


def test_quoted_error_messages_come_from_the_code() -> None:
    """Every ``error:``/``hint:`` pair in a hand-written page matches a template in the source."""
    messages = docs.error_catalog()
    quoted = 0
    for page in sorted((REPO / "docs").rglob("*.md")):
        rel = page.relative_to(REPO).as_posix()
        if rel.startswith(GENERATED_DIRS) or rel in GENERATED_PAGES:
            continue
        for block in re.findall(r"```text\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            lines = block.splitlines()
            for index, line in enumerate(lines):
                if not line.startswith("error: "):
                    continue
                following = lines[index + 1] if index + 1 < len(lines) else ""
                hint = following.removeprefix("hint: ") if following.startswith("hint: ") else None
                message = line.removeprefix("error: ")
                assert any(m.matches(message, hint) for m in messages), f"{rel}: {line} / {hint}"
                quoted += 1
    assert quoted >= 10


def test_the_error_catalogue_comes_from_the_error_classes() -> None:
    messages = {(m.error, m.message): m for m in docs.error_catalog()}
    unknown = messages["UnknownImageError", "unknown image '<name>'"]
    assert unknown.exit_code == ExitCode.USAGE
    assert unknown.hint == "did you mean <close>?"
    assert unknown.matches("unknown image 'helm-deplyo'", "did you mean helm-deploy?")
    assert not unknown.matches("unknown image helm-deplyo")
    # Every class is there, the scan findings (exit 10) too.
    assert {e for e, _ in messages} == {c.__name__ for c in catalogue()}
    assert messages["ScanFindings", "<count> finding(s) at or above <threshold>: <findings>"]
    # Wording that only some cases print is a class of its own, matched as printed.
    failed = messages["ImagesFailedError", "<failed> of <total> images failed (<names>)"]
    assert failed.matches("2 of 5 images failed (a, b)")
    skipped = messages[
        "ImagesFailedSkippedError",
        "<failed> of <total> images failed (<names>); <skipped> skipped (<skipped_names>)",
    ]
    assert skipped.matches("1 of 3 images failed (a); 1 skipped (b)")


def test_image_pages_show_tools_tags_and_structure_tests() -> None:
    image = catalog.discover(REPO / "images").get("helm-deploy")
    page = (REPO / "docs" / "images" / "helm-deploy.md").read_text(encoding="utf-8")
    assert '--8<-- "images/helm-deploy/README.md"' in page  # included, not copied
    tools = {t.arg: t for t in docs.tools(image)}
    assert tools["HELM_VERSION"].dependency == "helm/helm"
    assert tools["HELM_VERSION"].version == image.build_args()["HELM_VERSION"]
    for tool in tools.values():
        assert f"| `{tool.version}` | `{tool.arg}` |" in page
    assert image.version is not None
    assert ", ".join(f"`{t}`" for t in version_tags(image.version)) in page
    assert f"`{image.base_image()}`" in page
    structure = yaml.safe_load((image.directory / "tests" / "structure.yaml").read_text())
    for test in structure["commandTests"]:
        assert test["name"] in page


# -- drift on copies of the layout ---------------------------------------------------------------


def test_a_copy_of_the_repository_has_no_drift(tmp_path: Path) -> None:
    assert _drift(_copy_layout(tmp_path)) == {}


def test_adding_an_image_without_its_page_fails_and_invoke_docs_fixes_it(tmp_path: Path) -> None:
    root = _copy_layout(tmp_path)
    shutil.copytree(root / "images" / "helm-deploy", root / "images" / "kube-tools")
    assert _drift(root) == {
        "docs/images/kube-tools.md": "missing",
        "docs/images/index.md": "stale",
        docs.MKDOCS_YML: "stale",
        docs.CATALOG_INFO: "stale",
    }
    docs.write(root, docs_tasks.generated(root))
    assert _drift(root) == {}
    assert "- kube-tools: images/kube-tools.md" in (root / docs.MKDOCS_YML).read_text()
    names = {e["metadata"]["name"] for e in _entities(root)}
    assert "kube-tools" in names


def test_an_image_without_a_readme_fails(tmp_path: Path) -> None:
    root = _copy_layout(tmp_path)
    (root / "images" / "helm-deploy" / "README.md").unlink()
    with pytest.raises(ManifestError, match=r"images/helm-deploy: no README\.md"):
        docs_tasks.generated(root)


def test_a_removed_image_leaves_an_orphaned_page(tmp_path: Path) -> None:
    root = _copy_layout(tmp_path)
    shutil.rmtree(root / "images" / "act-runner")
    drift = _drift(root)
    assert drift["docs/images/act-runner.md"] == "orphaned"
    docs.write(root, docs_tasks.generated(root))
    assert not (root / "docs" / "images" / "act-runner.md").exists()
    assert _drift(root) == {}


def test_a_changed_manifest_makes_the_page_stale(tmp_path: Path) -> None:
    root = _copy_layout(tmp_path)
    manifest = root / "images" / "helm-deploy" / "image.yml"
    manifest.write_text(manifest.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
    drift = docs.check(root, docs_tasks.generated(root))
    assert {d.path for d in drift} >= {"docs/images/helm-deploy.md", "docs/images/index.md"}
    stale = next(d for d in drift if d.path == "docs/images/helm-deploy.md")
    assert any(line.startswith("+") and "`1.1.0`, `1.1`, `1`" in line for line in stale.diff)


def test_hand_written_parts_need_their_markers(tmp_path: Path) -> None:
    root = _copy_layout(tmp_path)
    text = (root / docs.MKDOCS_YML).read_text()
    (root / docs.MKDOCS_YML).write_text(re.sub(r".*# END GENERATED images.*\n", "", text))
    with pytest.raises(DocsError, match="has no '# END GENERATED images' line"):
        docs_tasks.generated(root)


def test_invoke_docs_check_fails_with_the_files_and_the_fix(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = _copy_layout(tmp_path)
    shutil.copytree(root / "images" / "helm-deploy", root / "images" / "kube-tools")
    context = Context(Config(overrides={"fleet": {"root": str(root)}}))
    with pytest.raises(Exit) as raised:
        docs_tasks.docs(context, check=True)
    assert raised.value.code == ExitCode.LINT
    err = capfd.readouterr().err
    assert "error: 4 generated file(s) out of date: docs/images/kube-tools.md (missing)" in err
    assert "hint: run `invoke docs`" in err
    assert not (root / "docs" / "images" / "kube-tools.md").exists()  # --check writes nothing


def test_parents_become_dependencies_links_and_inherited_tests(tmp_path: Path) -> None:
    root = tmp_path
    shutil.copytree(FIXTURES / "family", root / "images")
    for directory in (root / "images").iterdir():
        (directory / "README.md").write_text(f"# {directory.name}\n\nA fixture image.\n")
    (root / "invoke.yaml").write_text("fleet:\n  registry: localhost:5000/fleet\n")
    for name in (docs.MKDOCS_YML, docs.CATALOG_INFO):
        shutil.copy2(REPO / name, root / name)
    pages = docs_tasks.generated(root)
    entities = {
        e["metadata"]["name"]: e
        for e in yaml.safe_load_all(pages[docs.CATALOG_INFO])
        if isinstance(e, dict)
    }
    assert entities["fx-middle"]["spec"]["dependsOn"] == ["component:fx-base"]
    assert set(entities["fx-leaf-b"]["spec"]["dependsOn"]) == {
        "component:fx-middle",
        "component:fx-base",
    }
    assert "dependsOn" not in entities["fx-solo"]["spec"]
    images = [e for e in entities.values() if e["spec"].get("type") == docs.IMAGE_TYPE]
    assert len(images) == 5
    assert all("hub.docker.com" not in str(e["metadata"]) for e in images)  # not on Docker Hub
    middle = pages["docs/images/fx-middle.md"]
    assert "| Builds on | [fx-base](fx-base.md) |" in middle
    assert "[fx-leaf-a](fx-leaf-a.md)" in middle
    assert "`test_middle.py::" in middle
    leaf = pages["docs/images/fx-leaf-a.md"]
    assert "must also pass the tests of the images it builds on: [fx-base]" in leaf
    index = pages["docs/images/index.md"]
    assert "img_fx_base --> img_fx_middle" in index
    assert "1. [fx-base](fx-base.md), [fx-solo](fx-solo.md)" in index


# -- Backstage's own model (Node.js) -------------------------------------------------------------


def _require_node(reason: str) -> None:
    """Skip outside CI (saying how to run it); in CI, missing Node.js is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the Backstage validation must run in CI (install nodejs and npm)")
    pytest.skip(f"{reason}; install Node.js and npm (or run `nox -s catalog`) to run it")


@pytest.fixture(scope="module")
def backstage() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _require_node("node and npm are not on PATH")
    if not (BACKSTAGE / "node_modules" / "@backstage" / "catalog-model").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=BACKSTAGE,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            _require_node(f"npm ci failed in backstage/: {last}")
    return BACKSTAGE


def _validate(backstage: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "validate-catalog.mjs", str(path)],
        cwd=backstage,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_catalog_info_is_valid_for_backstage(backstage: Path) -> None:
    done = _validate(backstage, REPO / docs.CATALOG_INFO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(_entities())} entities, 0 invalid" in done.stdout


def test_backstage_rejects_an_invalid_entity_naming_it_and_the_field(
    backstage: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "catalog-info.yml"
    broken.write_text(
        (REPO / docs.CATALOG_INFO).read_text()
        + "---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata:\n  name: no-lifecycle\nspec:\n  type: container-image\n  owner: team-platform\n"
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata:\n  name: bad-parent\nspec:\n  type: container-image\n  lifecycle: production\n"
        "  owner: team-platform\n  dependsOn: [helm-deploy]\n"
    )
    done = _validate(backstage, broken)
    assert done.returncode == 1
    assert "component:default/no-lifecycle: /spec must have required property 'lifecycle'" in (
        done.stderr
    )
    assert "component:default/bad-parent: /spec/dependsOn: " in done.stderr
    assert "2 invalid" in done.stdout


def test_the_vendored_mermaid_is_the_locked_one(backstage: Path) -> None:
    done = subprocess.run(
        ["node", "vendor-mermaid.mjs", "--check"],
        cwd=backstage,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
