"""Kubeconfig handling: which contexts exist, and a self-contained copy for ``--in-container``.

Contents (servers' certificates, tokens, keys) are never logged or put in an error: messages name
files and contexts only.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import (
    KubeconfigFileUnreadableError,
    KubeconfigInvalidError,
    KubeconfigUnreadableError,
    NoKubeconfigError,
    NoKubeContextError,
    UndefinedClusterError,
    UnknownKubeContextError,
)

# (file reference key, inline data key) pairs that kubectl understands.
_INLINE = (
    ("certificate-authority", "certificate-authority-data"),
    ("client-certificate", "client-certificate-data"),
    ("client-key", "client-key-data"),
)


def paths() -> list[Path]:
    """The kubeconfig files in effect: ``$KUBECONFIG`` (colon-separated) or ``~/.kube/config``."""
    value = os.environ.get("KUBECONFIG", "")
    if value:
        return [Path(p) for p in value.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


@dataclass(frozen=True)
class Kubeconfig:
    """The merged view of the kubeconfig files (first definition of a name wins, as in kubectl)."""

    current: str | None
    contexts: dict[str, dict[str, Any]]
    clusters: dict[str, dict[str, Any]]
    users: dict[str, dict[str, Any]]
    sources: dict[str, Path]  # context/cluster/user name -> the file that defined it

    def context(self, name: str | None) -> str:
        """The context to use: ``name``, or the current one; unknown names are a usage error."""
        chosen = name or self.current
        if not chosen:
            raise NoKubeContextError()
        if chosen not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise UnknownKubeContextError(context=chosen, known=known)
        return chosen


def load() -> Kubeconfig:
    """Read and merge the kubeconfig files; a missing or unreadable one is an environment error."""
    current: str | None = None
    merged: dict[str, dict[str, dict[str, Any]]] = {"contexts": {}, "clusters": {}, "users": {}}
    sources: dict[str, Path] = {}
    found = False
    for path in paths():
        if not path.is_file():
            continue
        found = True
        data = _read(path)
        current = current or data.get("current-context") or None
        for section, known in merged.items():
            for entry in _entries(data, section, path):
                name = entry.get("name")
                key = section[:-1]  # contexts -> context, clusters -> cluster, users -> user
                if name and name not in known:
                    known[name] = dict(entry.get(key) or {})
                    sources[f"{section}/{name}"] = path
    if not found:
        raise NoKubeconfigError(paths=os.pathsep.join(map(str, paths())))
    return Kubeconfig(current, merged["contexts"], merged["clusters"], merged["users"], sources)


def _read(path: Path) -> dict[str, Any]:
    """One kubeconfig file as a mapping; bad YAML or a bad shape is bad input (file and line)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KubeconfigUnreadableError(path=path) from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise KubeconfigInvalidError(path=path, reason=f"{where}{problem}") from exc
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise KubeconfigInvalidError(path=path, reason=f"expected a mapping, got {kind}")
    return data


def _entries(data: dict[str, Any], section: str, path: Path) -> list[dict[str, Any]]:
    """The named entries of ``clusters``/``contexts``/``users``: a list of mappings."""
    entries = data.get(section) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise KubeconfigInvalidError(
            path=path, reason=f"{section} must be a list of entries with a name"
        )
    return entries


def _inline(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    out = dict(entry)
    for file_key, data_key in _INLINE:
        if file_key in out:
            path = Path(out.pop(file_key))
            path = path if path.is_absolute() else base / path
            out[data_key] = base64.b64encode(path.read_bytes()).decode()
    if "tokenFile" in out:
        path = Path(out.pop("tokenFile"))
        out["token"] = (path if path.is_absolute() else base / path).read_text().strip()
    return out


def flatten(config: Kubeconfig, context: str, target: Path) -> Path:
    """Write a kubeconfig holding only ``context``, with every file inlined, mode 0600."""
    ctx = config.contexts[context]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    cluster = config.clusters.get(str(cluster_name))
    user = config.users.get(str(user_name), {})
    if cluster is None:
        raise UndefinedClusterError(context=context)
    try:
        cluster = _inline(cluster, config.sources[f"clusters/{cluster_name}"].parent)
        if user:
            user = _inline(user, config.sources[f"users/{user_name}"].parent)
    except OSError as exc:
        raise KubeconfigFileUnreadableError(context=context) from exc
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "contexts": [{"name": context, "context": ctx}],
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}] if user_name else [],
    }
    target.touch(mode=0o600)
    target.chmod(0o600)
    target.write_text(yaml.safe_dump(data))
    return target
