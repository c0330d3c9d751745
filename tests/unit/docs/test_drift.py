"""The drift check: generated files current, and failing loudly (with the fix) when they drift.

The checks run on the repository itself and on temporary copies of its layout (an image added
without its page, an image removed, a manifest changed, a region marker dropped).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from imagefleet.docs import drift, site
from imagefleet.docs.backstage import CATALOG_INFO
from imagefleet.errors import DocsError, ExitCode
from imagefleet.tasks import docs as docs_tasks
from tests.helpers import REPO
from tests.unit.docs.helpers import copy_layout, drift_states, entities


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs_tasks.generated(REPO)


# -- the repository itself -----------------------------------------------------------------------


def test_generated_files_are_current(generated: dict[str, str]) -> None:
    found = drift.check(REPO, generated)
    diff = "\n".join(line for item in found for line in item.diff[:40])
    assert not found, f"run `invoke docs` and commit: {', '.join(map(str, found))}\n{diff}"


# -- drift on copies of the layout ---------------------------------------------------------------


def test_a_copy_of_the_repository_has_no_drift(tmp_path: Path) -> None:
    assert drift_states(copy_layout(tmp_path)) == {}


def test_adding_an_image_without_its_page_fails_and_invoke_docs_fixes_it(tmp_path: Path) -> None:
    root = copy_layout(tmp_path)
    shutil.copytree(root / "images" / "helm-deploy", root / "images" / "kube-tools")
    assert drift_states(root) == {
        "docs/images/kube-tools.md": "missing",
        "docs/images/index.md": "stale",
        site.MKDOCS_YML: "stale",
        CATALOG_INFO: "stale",
    }
    drift.write(root, docs_tasks.generated(root))
    assert drift_states(root) == {}
    assert "- kube-tools: images/kube-tools.md" in (root / site.MKDOCS_YML).read_text()
    names = {e["metadata"]["name"] for e in entities(root)}
    assert "kube-tools" in names


def test_a_removed_image_leaves_an_orphaned_page(tmp_path: Path) -> None:
    root = copy_layout(tmp_path)
    shutil.rmtree(root / "images" / "act-runner")
    states = drift_states(root)
    assert states["docs/images/act-runner.md"] == "orphaned"
    drift.write(root, docs_tasks.generated(root))
    assert not (root / "docs" / "images" / "act-runner.md").exists()
    assert drift_states(root) == {}


def test_a_changed_manifest_makes_the_page_stale(tmp_path: Path) -> None:
    root = copy_layout(tmp_path)
    manifest = root / "images" / "helm-deploy" / "image.yml"
    manifest.write_text(manifest.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
    found = drift.check(root, docs_tasks.generated(root))
    # The version is on the image's page, not in the fleet table of the index.
    assert {d.path for d in found} == {"docs/images/helm-deploy.md"}
    stale = next(d for d in found if d.path == "docs/images/helm-deploy.md")
    assert any(line.startswith("+") and "`1.1.0`, `1.1`, `1`" in line for line in stale.diff)


def test_hand_written_parts_need_their_markers(tmp_path: Path) -> None:
    root = copy_layout(tmp_path)
    text = (root / site.MKDOCS_YML).read_text()
    (root / site.MKDOCS_YML).write_text(re.sub(r".*# END GENERATED images.*\n", "", text))
    with pytest.raises(DocsError, match="has no '# END GENERATED images' line"):
        docs_tasks.generated(root)


def test_invoke_docs_check_fails_with_the_files_and_the_fix(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = copy_layout(tmp_path)
    shutil.copytree(root / "images" / "helm-deploy", root / "images" / "kube-tools")
    context = Context(Config(overrides={"fleet": {"root": str(root)}}))
    with pytest.raises(Exit) as raised:
        docs_tasks.docs(context, check=True)
    assert raised.value.code == ExitCode.LINT
    err = capfd.readouterr().err
    assert "error: 4 generated file(s) out of date: docs/images/kube-tools.md (missing)" in err
    assert "hint: run `invoke docs`" in err
    assert not (root / "docs" / "images" / "kube-tools.md").exists()  # --check writes nothing
