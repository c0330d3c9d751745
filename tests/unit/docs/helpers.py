"""Copies of the repository's layout for the docs tests, and what they generate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from imagefleet import docs
from imagefleet.tasks import docs as docs_tasks
from tests.helpers import FIXTURES, REPO

GENERATED_DIRS = ("docs/images",)
GENERATED_PAGES = ("docs/reference/tasks.md", "docs/reference/errors.md")


def entities(root: Path = REPO) -> list[dict[str, Any]]:
    """The entities of ``root``'s committed catalog-info.yml."""
    text = (root / docs.CATALOG_INFO).read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def copy_layout(root: Path) -> Path:
    """The parts of the repository the generated files come from and go to."""
    shutil.copytree(REPO / "images", root / "images")
    for name in ("invoke.yaml", docs.MKDOCS_YML, docs.CATALOG_INFO):
        shutil.copy2(REPO / name, root / name)
    for name in (*GENERATED_DIRS, "docs/reference"):
        shutil.copytree(REPO / name, root / name)
    return root


def drift_states(root: Path) -> dict[str, str]:
    """Each drifted file of ``root`` with its state (missing, stale, orphaned)."""
    return {d.path: d.state for d in docs.check(root, docs_tasks.generated(root))}


def family(root: Path) -> dict[str, str]:
    """What ``invoke docs`` generates for the fixture family (parents, children, a solo image)."""
    shutil.copytree(FIXTURES / "family", root / "images")
    for directory in (root / "images").iterdir():
        (directory / "README.md").write_text(f"# {directory.name}\n\nA fixture image.\n")
    (root / "invoke.yaml").write_text("fleet:\n  registry: localhost:5000/fleet\n")
    for name in (docs.MKDOCS_YML, docs.CATALOG_INFO):
        shutil.copy2(REPO / name, root / name)
    return docs_tasks.generated(root)
