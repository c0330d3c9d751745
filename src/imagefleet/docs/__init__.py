"""Docs pages and Backstage entities generated from the manifests and the code; their drift check.

:func:`generate` returns the text of every generated file by its path from the project root;
:func:`write` puts them in place and :func:`check` lists the files whose committed text differs.
One module per part of the site: ``images`` (image pages and index), ``tasks`` (task reference),
``errors`` (error reference), ``backstage`` (catalog entities), ``site`` (all of it at once, the
nav, MkDocs), ``drift`` (check and write), ``markdown`` (what every page is written with).
"""

from ..errors import DocsError
from .backstage import (
    CATALOG_INFO,
    IMAGE_TYPE,
    PATH_ANNOTATIONS,
    TECHDOCS_ENTITY,
    TECHDOCS_ENTITY_PATH,
    TECHDOCS_REF,
    image_entity,
)
from .drift import Drift, check, drift_error, replace_region, write
from .errors import ERRORS_PAGE, ErrorMessage, error_catalog, errors_page
from .images import IMAGES_PAGES, Tool, image_page, images_index, tools
from .site import MKDOCS_YML, build_site, generate, project_settings, serve_site
from .tasks import TASKS_PAGE, FlagDoc, TaskDoc, tasks_page

__all__ = [
    "CATALOG_INFO",
    "ERRORS_PAGE",
    "IMAGES_PAGES",
    "IMAGE_TYPE",
    "MKDOCS_YML",
    "PATH_ANNOTATIONS",
    "TASKS_PAGE",
    "TECHDOCS_ENTITY",
    "TECHDOCS_ENTITY_PATH",
    "TECHDOCS_REF",
    "DocsError",
    "Drift",
    "ErrorMessage",
    "FlagDoc",
    "TaskDoc",
    "Tool",
    "build_site",
    "check",
    "drift_error",
    "error_catalog",
    "errors_page",
    "generate",
    "image_entity",
    "image_page",
    "images_index",
    "project_settings",
    "replace_region",
    "serve_site",
    "tasks_page",
    "tools",
    "write",
]
