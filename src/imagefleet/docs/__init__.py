"""Docs pages and Backstage entities generated from the manifests and the code; their drift check.

Moved here from ``imagefleet/docs.py`` whole; the next commit splits it into one module per part.
"""

from .images import (
    CATALOG_INFO,
    IMAGE_TYPE,
    MKDOCS_YML,
    PATH_ANNOTATIONS,
    TASKS_PAGE,
    TECHDOCS_ENTITY,
    TECHDOCS_ENTITY_PATH,
    DocsError,
    FlagDoc,
    TaskDoc,
    build_site,
    check,
    drift_error,
    error_catalog,
    generate,
    serve_site,
    tools,
    write,
)

__all__ = [
    "CATALOG_INFO",
    "IMAGE_TYPE",
    "MKDOCS_YML",
    "PATH_ANNOTATIONS",
    "TASKS_PAGE",
    "TECHDOCS_ENTITY",
    "TECHDOCS_ENTITY_PATH",
    "DocsError",
    "FlagDoc",
    "TaskDoc",
    "build_site",
    "check",
    "drift_error",
    "error_catalog",
    "generate",
    "serve_site",
    "tools",
    "write",
]
