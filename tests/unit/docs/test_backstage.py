"""Backstage entities: annotations that resolve, parents as dependencies, and Backstage's own model.

The validation runs Backstage's own @backstage/catalog-model through Node.js (marker ``node``):
skipped without Node.js and npm, outside CI; a failure in CI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from imagefleet.docs import backstage
from tests.helpers import REPO, require
from tests.unit.docs.helpers import entities, family

BACKSTAGE = REPO / "backstage"


def test_every_annotation_path_exists() -> None:
    found = entities()
    refs = {
        f"{e['kind'].lower()}:{e['metadata'].get('namespace', 'default')}/{e['metadata']['name']}"
        for e in found
    }
    checked = 0
    for entity in found:
        for key, value in (entity["metadata"].get("annotations") or {}).items():
            where = f"{entity['metadata']['name']}: {key}: {value}"
            if value.startswith("dir:"):
                assert (REPO / value.removeprefix("dir:")).exists(), where
            elif key in backstage.PATH_ANNOTATIONS:
                assert (REPO / value).exists(), where
            elif key == backstage.TECHDOCS_ENTITY_PATH:
                page = value.strip("/")
                assert (REPO / "docs" / f"{page}.md").is_file() or (
                    REPO / "docs" / page / "index.md"
                ).is_file(), where
            elif key == backstage.TECHDOCS_ENTITY:
                assert value in refs, where
            else:
                continue
            checked += 1
    assert checked >= 2 + 2 * 6  # techdocs-ref, adr-location, and two per image


def test_every_image_links_its_source_on_github() -> None:
    found = entities()
    [repository] = [
        e for e in found if backstage.TECHDOCS_REF in (e["metadata"].get("annotations") or {})
    ]
    slug = repository["metadata"]["annotations"][backstage.PROJECT_SLUG]
    assert slug.count("/") == 1
    images = [e for e in found if e["spec"].get("type") == backstage.IMAGE_TYPE]
    assert images
    for entity in images:
        name, annotations = entity["metadata"]["name"], entity["metadata"]["annotations"]
        assert annotations[backstage.PROJECT_SLUG] == slug
        location = annotations[backstage.SOURCE_LOCATION]
        assert location == f"url:https://github.com/{slug}/tree/main/images/{name}/"
        assert (REPO / "images" / name / "Dockerfile").is_file()


def test_parents_become_dependencies(tmp_path: Path) -> None:
    pages = family(tmp_path)
    found = {
        e["metadata"]["name"]: e
        for e in yaml.safe_load_all(pages[backstage.CATALOG_INFO])
        if isinstance(e, dict)
    }
    assert found["fx-middle"]["spec"]["dependsOn"] == ["component:fx-base"]
    assert set(found["fx-leaf-b"]["spec"]["dependsOn"]) == {
        "component:fx-middle",
        "component:fx-base",
    }
    assert "dependsOn" not in found["fx-solo"]["spec"]
    images = [e for e in found.values() if e["spec"].get("type") == backstage.IMAGE_TYPE]
    assert len(images) == 5
    assert all("hub.docker.com" not in str(e["metadata"]) for e in images)  # not on Docker Hub


# -- Backstage's own model (Node.js) -------------------------------------------------------------


@pytest.fixture(scope="module")
def node_backstage() -> Path:
    """``backstage/`` with its locked npm packages installed (``npm ci`` once, if needed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        require("node and npm are not on PATH", "install Node.js and npm (or run `nox -s catalog`)")
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
            require(f"npm ci failed in backstage/: {last}", "check npm's access to its registry")
    return BACKSTAGE


def _validate(directory: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "validate-catalog.mjs", str(path)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.node
def test_catalog_info_is_valid_for_backstage(node_backstage: Path) -> None:
    done = _validate(node_backstage, REPO / backstage.CATALOG_INFO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(entities())} entities, 0 invalid" in done.stdout


@pytest.mark.node
def test_backstage_rejects_an_invalid_entity_naming_it_and_the_field(
    node_backstage: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "catalog-info.yml"
    broken.write_text(
        (REPO / backstage.CATALOG_INFO).read_text()
        + "---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata:\n  name: no-lifecycle\nspec:\n  type: container-image\n  owner: team-platform\n"
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata:\n  name: bad-parent\nspec:\n  type: container-image\n  lifecycle: production\n"
        "  owner: team-platform\n  dependsOn: [helm-deploy]\n"
    )
    done = _validate(node_backstage, broken)
    assert done.returncode == 1
    assert "component:default/no-lifecycle: /spec must have required property 'lifecycle'" in (
        done.stderr
    )
    assert "component:default/bad-parent: /spec/dependsOn: " in done.stderr
    assert "2 invalid" in done.stdout


@pytest.mark.node
def test_the_vendored_mermaid_is_the_locked_one(node_backstage: Path) -> None:
    done = subprocess.run(
        ["node", "vendor-mermaid.mjs", "--check"],
        cwd=node_backstage,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
