"""Backstage entities: one Component per image, generated into ``catalog-info.yml``.

The repository's own Component is written by hand; the image entities go between the file's
``# BEGIN GENERATED images`` and ``# END GENERATED images`` lines, point their TechDocs at it, and
take their source location from its ``github.com/project-slug``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import catalog as catalog_mod
from ..errors import (
    CatalogInfoYamlError,
    MissingCatalogInfoError,
    MissingRepositoryComponentError,
)
from ..graph import Graph
from ..settings import Settings
from .drift import replace_region

CATALOG_INFO = "catalog-info.yml"
IMAGE_TYPE = "container-image"  # spec.type of the image Components in catalog-info.yml
TECHDOCS_REF = "backstage.io/techdocs-ref"
TECHDOCS_ENTITY = "backstage.io/techdocs-entity"
TECHDOCS_ENTITY_PATH = "backstage.io/techdocs-entity-path"
PROJECT_SLUG = "github.com/project-slug"  # owner/repo on GitHub, on the hand-written Component
SOURCE_LOCATION = "backstage.io/source-location"
# Annotations whose value is a path in this repository (``dir:`` location references too).
PATH_ANNOTATIONS = ("backstage.io/adr-location",)


def _repository_component(text: str) -> dict[str, Any]:
    """The hand-written Component whose TechDocs this site is (``backstage.io/techdocs-ref``)."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise CatalogInfoYamlError(path=CATALOG_INFO, problem=exc) from exc
    for document in documents:
        annotations = (document.get("metadata") or {}).get("annotations") or {}
        if document.get("kind") == "Component" and TECHDOCS_REF in annotations:
            return document
    raise MissingRepositoryComponentError(path=CATALOG_INFO, annotation=TECHDOCS_REF)


def source_location(slug: str, branch: str, path: str) -> str:
    """``url:https://github.com/<slug>/tree/<branch>/<path>/``, Backstage's "View source" link."""
    return f"url:https://github.com/{slug}/tree/{branch}/{path.strip('/')}/"


def image_entity(
    image: catalog_mod.Image, graph: Graph, settings: Settings, repository: Mapping[str, Any]
) -> dict[str, Any]:
    """The Backstage Component of one image: owner, lifecycle, parents as ``dependsOn``."""
    meta = repository.get("metadata") or {}
    spec = repository.get("spec") or {}
    namespace = meta.get("namespace", "default")
    links = [{"url": d.url, "title": d.title} for d in image.manifest.docs]
    target = settings.target
    if target.domain == "docker.io" and target.namespace:
        links.insert(
            0,
            {
                "url": f"https://hub.docker.com/r/{target.namespace}/{image.name}",
                "title": f"{target.repository(image.name)} on Docker Hub",
            },
        )
    entity_spec: dict[str, Any] = {
        "type": IMAGE_TYPE,
        "lifecycle": image.manifest.lifecycle,
        "owner": image.manifest.owner or spec.get("owner"),
    }
    if spec.get("system"):
        entity_spec["system"] = spec["system"]
    parents = graph.parent_names(image.name)
    if parents:
        entity_spec["dependsOn"] = [f"component:{p}" for p in parents]
    metadata: dict[str, Any] = {"name": image.name}
    if namespace != "default":
        metadata["namespace"] = namespace
    if image.description:
        metadata["description"] = image.description
    metadata["annotations"] = {
        TECHDOCS_ENTITY: f"component:{namespace}/{meta.get('name')}",
        TECHDOCS_ENTITY_PATH: f"/images/{image.name}/",
    }
    slug = (meta.get("annotations") or {}).get(PROJECT_SLUG)
    if slug:
        metadata["annotations"][PROJECT_SLUG] = slug
        directory = image.directory.relative_to(settings.root).as_posix()
        metadata["annotations"][SOURCE_LOCATION] = source_location(
            slug, settings.default_branch, directory
        )
    metadata["tags"] = [IMAGE_TYPE]
    if links:
        metadata["links"] = links
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": metadata,
        "spec": entity_spec,
    }


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as the hand-written part of catalog-info.yml does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def catalog_info(
    root: Path, images: Sequence[catalog_mod.Image], graph: Graph, settings: Settings
) -> str:
    """``catalog-info.yml`` with its generated region holding one entity per image."""
    path = root / CATALOG_INFO
    if not path.is_file():
        raise MissingCatalogInfoError(path=CATALOG_INFO, root=root)
    text = path.read_text(encoding="utf-8")
    repository = _repository_component(text)
    body: list[str] = []
    for image in images:
        dumped = yaml.dump(
            image_entity(image, graph, settings, repository),
            Dumper=_IndentedDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=1000,
        )
        body += ["---", *dumped.splitlines()]
    return replace_region(text, "images", body, path=CATALOG_INFO)
