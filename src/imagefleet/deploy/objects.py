"""Rendered Kubernetes objects (what ``helm template`` prints; not image.yml manifests): split,
validated offline against the Kubernetes schemas (``kubernetes-validate``), and compared object by
object with what is live.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ChartYamlError


@dataclass(frozen=True)
class Problem:
    """One manifest that does not validate."""

    key: str  # kind/namespace/name
    source: str  # the template it came from (helm's "# Source:" comment)
    message: str


def _source(document: str) -> str:
    for line in document.splitlines():
        if line.startswith("# Source: "):
            return line.removeprefix("# Source: ").strip()
    return "?"


def split(rendered: str) -> list[tuple[str, dict[str, Any]]]:
    """``(template source, object)`` for every non-empty document of a rendered chart."""
    objects: list[tuple[str, dict[str, Any]]] = []
    for document in rendered.split("\n---"):
        try:
            data = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            raise ChartYamlError(
                source=_source(document), problem=getattr(exc, "problem", exc)
            ) from exc
        if isinstance(data, dict) and data:
            objects.append((_source(document), data))
    return objects


def key(obj: dict[str, Any], default_namespace: str) -> str:
    """``Kind/namespace/name`` of an object (cluster-scoped kinds keep the release namespace)."""
    meta = obj.get("metadata") or {}
    return (
        f"{obj.get('kind', '?')}/{meta.get('namespace') or default_namespace}/"
        f"{meta.get('name', '?')}"
    )


def validate(rendered: str, namespace: str, kubernetes_version: str) -> list[Problem]:
    """Every object checked against the strict schemas of ``kubernetes_version``, offline."""
    import kubernetes_validate

    problems: list[Problem] = []
    for source, obj in split(rendered):
        try:
            kubernetes_validate.validate(obj, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            problems.append(
                Problem(
                    key(obj, namespace), source, f"{where + ': ' if where else ''}{exc.message}"
                )
            )
        except (
            kubernetes_validate.SchemaNotFoundError,
            kubernetes_validate.InvalidSchemaError,
        ) as exc:
            problems.append(
                Problem(
                    key(obj, namespace),
                    source,
                    f"no schema for {obj.get('apiVersion')}/{obj.get('kind')} "
                    f"in Kubernetes {kubernetes_version}: {exc}",
                )
            )
    return problems


@dataclass(frozen=True)
class Change:
    """One object's difference between the live release and the new render."""

    key: str
    action: str  # "added", "removed", "changed"
    diff: tuple[str, ...]


def _by_key(rendered: str, namespace: str) -> dict[str, str]:
    return {key(obj, namespace): yaml.safe_dump(obj, sort_keys=True) for _, obj in split(rendered)}


def diff(live: str, new: str, namespace: str) -> list[Change]:
    """Per-object unified diffs from ``live`` (helm get manifest) to ``new`` (helm template)."""
    before, after = _by_key(live, namespace), _by_key(new, namespace)
    changes: list[Change] = []
    for name in sorted(set(before) | set(after)):
        old, fresh = before.get(name, ""), after.get(name, "")
        if old == fresh:
            continue
        action = "added" if not old else "removed" if not fresh else "changed"
        lines = difflib.unified_diff(
            old.splitlines(), fresh.splitlines(), f"live/{name}", f"new/{name}", lineterm="", n=3
        )
        changes.append(Change(name, action, tuple(lines)))
    return changes


def names(changes: Iterable[Change]) -> list[str]:
    """``action key`` lines, for summaries."""
    return [f"{c.action} {c.key}" for c in changes]
