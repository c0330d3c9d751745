"""The TechDocs site: every generated file at once, the ``mkdocs.yml`` nav, and MkDocs itself.

:func:`generate` returns the text of every generated file by its path from the project root. The
inputs are committed files only (``images/``, ``invoke.yaml``, ``mkdocs.yml``, ``catalog-info.yml``,
the package's source), never the environment, so that every checkout generates the same bytes and
a drift check means the same thing on a laptop and in CI.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import catalog as catalog_mod
from ..errors import MissingMkdocsConfigError, MkdocsBuildError, MkdocsMissingError
from ..graph import Graph
from ..settings import Settings
from .backstage import CATALOG_INFO, catalog_info
from .drift import replace_region
from .errors import ERRORS_PAGE, error_catalog, errors_page
from .images import IMAGES_PAGES, image_page, images_index
from .tasks import TASKS_PAGE, TaskDoc, tasks_page

LOGGER = logging.getLogger(__name__)

INVOKE_YAML = "invoke.yaml"
MKDOCS_YML = "mkdocs.yml"


def project_settings(root: Path) -> Settings:
    """Settings from the committed ``invoke.yaml`` only: no ``INVOKE_FLEET_*`` environment."""
    path = root / INVOKE_YAML
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    fleet = dict((data or {}).get("fleet") or {})
    return Settings.from_config({**fleet, "root": str(root)})


def generate(root: Path, tasks: Sequence[TaskDoc]) -> dict[str, str]:
    """Every generated file's text, by its path from ``root`` (POSIX separators)."""
    settings = project_settings(root)
    found = catalog_mod.discover(settings.images_dir)
    graph = Graph.build(found, settings.targets)
    images = found.images
    pages = {
        (IMAGES_PAGES / f"{i.name}.md").as_posix(): image_page(root, i, graph, settings)
        for i in images
    }
    return {
        **pages,
        (IMAGES_PAGES / "index.md").as_posix(): images_index(root, images, graph),
        TASKS_PAGE: tasks_page(tasks),
        ERRORS_PAGE: errors_page(error_catalog()),
        MKDOCS_YML: _mkdocs_yml(root, images),
        CATALOG_INFO: catalog_info(root, images, graph, settings),
    }


def _mkdocs_yml(root: Path, images: Sequence[catalog_mod.Image]) -> str:
    path = root / MKDOCS_YML
    if not path.is_file():
        raise MissingMkdocsConfigError(path=MKDOCS_YML, root=root)
    body = [f"- All images: {IMAGES_PAGES.relative_to('docs').as_posix()}/index.md"]
    body += [
        f"- {i.name}: {IMAGES_PAGES.relative_to('docs').as_posix()}/{i.name}.md" for i in images
    ]
    return replace_region(path.read_text(encoding="utf-8"), "images", body, path=MKDOCS_YML)


# -- MkDocs (the one seam to it) -------------------------------------------------------------------


def _mkdocs(root: Path, *args: str) -> int:
    if (
        importlib.util.find_spec("mkdocs") is None
        or importlib.util.find_spec("techdocs_core") is None
    ):
        raise MkdocsMissingError()
    argv = [sys.executable, "-m", "mkdocs", *args, "--config-file", str(root / MKDOCS_YML)]
    LOGGER.debug("running %s", " ".join(argv))
    return subprocess.run(argv, cwd=root, check=False, stdin=subprocess.DEVNULL).returncode


def build_site(root: Path, site_dir: Path) -> None:
    """``mkdocs build --strict``: a broken link, a missing page or a page outside the nav fails."""
    code = _mkdocs(root, "build", "--strict", "--site-dir", str(site_dir))
    if code != 0:
        raise MkdocsBuildError(code=code)


def serve_site(root: Path, dev_addr: str) -> None:
    """``mkdocs serve`` with live reload; image READMEs and the root README are watched too."""
    try:
        _mkdocs(
            root,
            "serve",
            "--livereload",
            "--dev-addr",
            dev_addr,
            "--watch",
            str(root / "images"),
            "--watch",
            str(root / "README.md"),
        )
    except KeyboardInterrupt:
        LOGGER.info("stopped serving")
