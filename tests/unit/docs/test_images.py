"""Image pages and the images index: tools, tags, structure tests, parents and build order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imagefleet import catalog
from imagefleet.docs import images
from imagefleet.docs import markdown as md
from imagefleet.errors import ManifestError
from imagefleet.tags import version_tags
from imagefleet.tasks import docs as docs_tasks
from tests.helpers import REPO
from tests.unit.docs.helpers import copy_layout, family


def test_image_pages_show_tools_tags_and_structure_tests() -> None:
    image = catalog.discover(REPO / "images").get("helm-deploy")
    page = (REPO / "docs" / "images" / "helm-deploy.md").read_text(encoding="utf-8")
    assert '--8<-- "images/helm-deploy/README.md"' in page  # included, not copied
    tools = {t.arg: t for t in images.tools(image)}
    assert tools["HELM_VERSION"].dependency == "helm/helm"
    assert tools["HELM_VERSION"].version == image.build_args()["HELM_VERSION"]
    for tool in tools.values():
        assert f"| `{tool.version}` | `{tool.arg}` |" in page
    assert image.version is not None
    assert ", ".join(f"`{t}`" for t in version_tags(image.version)) in page
    assert md.token(image.base_image()) in page
    structure = yaml.safe_load(image.structure_tests.read_text())
    for test in structure["commandTests"]:
        assert test["name"] in page


def test_an_image_without_a_readme_fails(tmp_path: Path) -> None:
    root = copy_layout(tmp_path)
    (root / "images" / "helm-deploy" / "README.md").unlink()
    with pytest.raises(ManifestError, match=r"images/helm-deploy: no README\.md"):
        docs_tasks.generated(root)


def test_parents_become_links_inherited_tests_and_build_order(tmp_path: Path) -> None:
    pages = family(tmp_path)
    middle = pages["docs/images/fx-middle.md"]
    assert "| Builds on | [fx-base](fx-base.md) |" in middle
    assert "[fx-leaf-a](fx-leaf-a.md)" in middle
    assert "`test_middle.py::" in middle
    leaf = pages["docs/images/fx-leaf-a.md"]
    assert "must also pass the tests of the images it builds on: [fx-base]" in leaf
    index = pages[(images.IMAGES_PAGES / "index.md").as_posix()]
    assert "img_fx_base --> img_fx_middle" in index
    assert "1. [fx-base](fx-base.md), [fx-solo](fx-solo.md)" in index


def test_the_index_is_a_fleet_table_of_base_tools_and_purpose() -> None:
    index = (REPO / "docs" / "images" / "index.md").read_text(encoding="utf-8")
    assert "| image | base image | pinned tools | purpose |" in index
    helm = catalog.discover(REPO / "images").get("helm-deploy")
    tools = images.tools(helm)
    row = next(line for line in index.splitlines() if line.startswith("| [helm-deploy]"))
    # The base breaks only after a `/` on the page (see markdown.token).
    assert f"| {md.token(helm.base_image())} |" in row
    for tool in tools:
        name = tool.arg.removesuffix("_VERSION").lower()
        assert md.token(f"{name} {tool.version}") in row
    assert images._tool_list(helm) in row
