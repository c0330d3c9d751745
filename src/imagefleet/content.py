"""Content keys: a digest of everything that decides what an image's build produces.

An image whose key already has an image (locally, or in the registry as ``<image>:key-<32 hex>``)
is not built again. The inputs: the files of the build context the build can see (after
``.dockerignore``), resolved build args, platforms, the labels that do not change with every commit
(``revision``, ``created`` and ``version`` are left out), the parents' keys, and every outside
base as written plus the image it resolves to where the engine knows it. The key's parts are kept
beside it (a label) so a rebuild can say why: which files changed, which parent or base moved,
which args.
"""

# File listing and digests use str paths, not pathlib: a thousand-image fleet lists and stats
# ~10,000 files per run and Path objects tripled that cost.
# ruff: noqa: PTH114, PTH115, PTH118, PTH123

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .graph import Graph
from .plan import OCI, ImagePlan
from .tags import TagSet

if TYPE_CHECKING:
    from .engine import Engine

KEY_LABEL = "io.imagefleet.content-key"
# The key's parts, as JSON: what `plan` compares to say why an image needs building.
INPUTS_LABEL = "io.imagefleet.content-inputs"
TAG_PREFIX = "key-"
_SCHEME = "imagefleet-content-key/1"  # bump when what goes into a key changes
# The version too: a release tag is made after its image exists, so promoting that image to
# `:<version>` must not make its content look new.
_VOLATILE = (f"{OCI}.revision", f"{OCI}.created", f"{OCI}.version")
_MAX_LISTED_FILES = 200  # past this the label keeps only the files' combined digest

# Where an outside base resolves to (an image ID or digest), or None when nobody knows.
Resolve = Callable[[str], str | None]
# The files of a build context the build can see, as context-relative POSIX paths.
ListFiles = Callable[[Path, Path], Sequence[str]]


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _file_digest(path: str, mode: int) -> str:
    if stat.S_ISLNK(mode):
        return f"link:{os.readlink(path)}"
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            sha.update(chunk)
    executable = "x" if os.access(path, os.X_OK) else "-"
    return f"{executable}{sha.hexdigest()}"


def context_files(context: Path, dockerfile: Path) -> list[str]:
    """The files of a build context that the build can see, as sorted context-relative POSIX
    paths: ``.dockerignore`` honoured the way the Docker CLI reads it (the Dockerfile and
    ``.dockerignore`` are always sent)."""
    ignore = context / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        lines = (line.strip() for line in ignore.read_text(encoding="utf-8").splitlines())
        patterns = [line for line in lines if line and not line.startswith("#")]
    if not patterns:  # nothing ignored: every file (the Docker SDK's matcher is slow per file)
        found: list[str] = []
        # Strings, not Paths: this lists every file of every image on each run.
        for top, dirs, files in os.walk(context):
            rel = os.path.relpath(top, context)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            found += (prefix + name for name in files)
            found += (prefix + d for d in dirs if os.path.islink(os.path.join(top, d)))
        return sorted(found)
    relative = (
        dockerfile.relative_to(context).as_posix() if dockerfile.is_relative_to(context) else None
    )
    from docker.utils.build import exclude_paths  # the Docker CLI's own matcher

    seen = exclude_paths(str(context), patterns, dockerfile=relative)
    return sorted(
        Path(name).as_posix()
        for name in seen
        if not (path := context / name).is_dir() or path.is_symlink()
    )


class DigestCache:
    """File digests remembered between runs, each trusted while the file's size, modification
    time (ns), inode and mode are unchanged (the rule git's index uses), so a run where nothing
    changed reads no file twice. Kept in one JSON file; a missing or broken one is rebuilt."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and loaded.get("scheme") == _SCHEME:
                    self.entries = dict(loaded.get("files") or {})
            except (OSError, ValueError):
                self.entries = {}

    def digest(self, path: str | Path) -> str:
        """The digest of ``path``, from the cache when the file is unchanged."""
        key = os.fspath(path)  # plain strings: a thousand-image fleet stats ~10,000 files
        info = os.lstat(key)
        stamp = [info.st_size, info.st_mtime_ns, info.st_ino, info.st_mode]
        cached = self.entries.get(key)
        if cached is not None and cached[:4] == stamp:
            return str(cached[4])
        value = _file_digest(key, info.st_mode)
        self.entries[key] = [*stamp, value]
        self.dirty = True
        return value

    def save(self) -> None:
        """Write the cache back if anything was added (atomically; failures are harmless)."""
        if self.path is None or not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(
                json.dumps({"scheme": _SCHEME, "files": self.entries}), encoding="utf-8"
            )
            scratch.replace(self.path)
        except OSError:
            pass  # a cache that cannot be written costs time, never correctness


@dataclass(frozen=True)
class ContentKey:
    """An image's content key and the parts it was made of."""

    digest: str  # sha256, 64 hex digits
    files: Mapping[str, str]  # context-relative path -> content digest
    args: Mapping[str, str]
    platforms: tuple[str, ...]
    labels: Mapping[str, str]
    parents: Mapping[str, str]  # parent image -> its key
    bases: Mapping[str, str]  # outside reference -> what it resolved to ("" if unknown)

    @property
    def tag(self) -> str:
        """The tag that publishes this content beside the image: ``key-<first 32 hex>``."""
        return key_tag(self.digest)

    def _inputs(self) -> dict[str, Any]:
        """The parts as the label keeps them (file digests shortened, labels as one digest)."""
        files: Any = {p: d[:17] for p, d in self.files.items()}
        if len(files) > _MAX_LISTED_FILES:
            files = _digest(dict(self.files))
        return {
            "files": files,
            "args": dict(self.args),
            "platforms": list(self.platforms),
            "labels": _digest(dict(self.labels)),
            "parents": dict(self.parents),
            "bases": dict(self.bases),
        }

    def inputs_label(self) -> str:
        """The parts, compact, for :data:`INPUTS_LABEL`."""
        return json.dumps(self._inputs(), sort_keys=True, separators=(",", ":"))

    def changes_since(self, label: str | None) -> list[str]:
        """Why this content differs from an image built from the parts in ``label``."""
        try:
            old: dict[str, Any] = json.loads(label) if label else {}
        except json.JSONDecodeError:
            old = {}
        if not old:
            return ["no image of this image's content yet"]
        mine = self._inputs()
        reasons: list[str] = []
        if old.get("files") != mine["files"]:
            if isinstance(old.get("files"), dict) and isinstance(mine["files"], dict):
                before, now = old["files"], mine["files"]
                changed = sorted(p for p in {*before, *now} if before.get(p) != now.get(p))
                shown = ", ".join(changed[:5]) + (
                    f" (+{len(changed) - 5} more)" if len(changed) > 5 else ""
                )
                reasons.append(f"files changed: {shown}")
            else:
                reasons.append("files changed")
        for parent, key in mine["parents"].items():
            if old.get("parents", {}).get(parent) != key:
                reasons.append(f"parent {parent} rebuilt")
        for ref, resolved in mine["bases"].items():
            if old.get("bases", {}).get(ref) != resolved:
                reasons.append(
                    f"base {ref} moved" if ref in old.get("bases", {}) else f"new base {ref}"
                )
        changed_args = sorted(
            k
            for k in {*old.get("args", {}), *mine["args"]}
            if old.get("args", {}).get(k) != mine["args"].get(k)
        )
        if changed_args:
            reasons.append(f"build args changed: {', '.join(changed_args)}")
        if old.get("platforms") != mine["platforms"]:
            reasons.append("platforms changed")
        if old.get("labels") != mine["labels"]:
            reasons.append("labels changed")
        return reasons or ["content changed"]


@dataclass
class Keys:
    """Content keys of a set of plans, computed parents first."""

    graph: Graph
    list_files: ListFiles
    resolve: Resolve
    cache: DigestCache = field(default_factory=lambda: DigestCache(None))
    keys: dict[str, ContentKey] = field(default_factory=dict)

    def of(self, plan: ImagePlan, plans: Mapping[str, ImagePlan]) -> ContentKey:
        """The key of ``plan``; ``plans`` must hold a plan for each of its in-repo ancestors."""
        if plan.name in self.keys:
            return self.keys[plan.name]
        parents = {
            name: self.of(plans[name], plans).digest for name in self.graph.parent_names(plan.name)
        }
        in_repo = {ref.reference for ref in self.graph.parents[plan.name]}
        bases = {
            ref: self.resolve(ref) or ""
            for ref in plan.image.dockerfile.external_images(plan.overrides)
            if ref not in in_repo
        }
        context = plan.image.directory
        files = {
            name: self.cache.digest(os.path.join(context, name))
            for name in self.list_files(context, plan.image.dockerfile_path)
        }
        labels = {k: v for k, v in plan.labels.items() if k not in _VOLATILE}
        parts = {
            "scheme": _SCHEME,
            "dockerfile": plan.image.dockerfile_path.relative_to(context).as_posix(),
            "files": files,
            "args": plan.build_args,
            "platforms": list(plan.platforms),
            "labels": labels,
            "parents": parents,
            "bases": bases,
        }
        key = ContentKey(
            digest=_digest(parts),
            files=files,
            args=dict(plan.build_args),
            platforms=tuple(plan.platforms),
            labels=labels,
            parents=parents,
            bases=bases,
        )
        self.keys[plan.name] = key
        return key


@dataclass(frozen=True)
class Existing:
    """An image of the engine that carries a content key."""

    image_id: str
    name: str  # the image it was built as (its title label)
    key: str
    inputs: str | None
    created: str
    tags: tuple[str, ...] = ()  # its local references (``name:tag``)


@dataclass(frozen=True)
class Decision:
    """Whether one image needs building, and why."""

    plan: ImagePlan
    key: ContentKey
    action: str  # "build" or "up-to-date"
    reasons: tuple[str, ...] = ()
    image_id: str | None = None  # the local image that already has this content
    remote: str | None = None  # or the registry reference that does
    local_tags: tuple[str, ...] = ()  # that local image's references

    @property
    def up_to_date(self) -> bool:
        """Whether the image's content already exists (locally or in the registry)."""
        return self.action == "up-to-date"

    @property
    def key_ref(self) -> str:
        """The local reference that names this content: ``<name>:key-<32 hex>``."""
        return f"{self.plan.name}:{self.key.tag}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "image": self.plan.name,
            "action": self.action,
            "key": self.key.digest,
            "reasons": list(self.reasons),
            "id": self.image_id,
            "remote": self.remote,
        }


def existing_images(rows: Sequence[Mapping[str, Any]]) -> list[Existing]:
    """The engine's images that carry a content key (from one ``docker images`` listing)."""
    found = []
    for row in rows:
        labels = row.get("Labels") or {}
        if KEY_LABEL in labels:
            found.append(
                Existing(
                    image_id=str(row["Id"]),
                    name=str(labels.get(f"{OCI}.title", "")),
                    key=str(labels[KEY_LABEL]),
                    inputs=labels.get(INPUTS_LABEL),
                    created=str(row.get("Created", "")),
                    tags=tuple(str(t) for t in row.get("RepoTags") or ()),
                )
            )
    return found


def decide(
    plans: Sequence[ImagePlan],
    keys: Keys,
    existing: Sequence[Existing],
    *,
    force: Sequence[str] = (),
    in_registry: Callable[[ImagePlan, ContentKey], str | None] | None = None,
) -> list[Decision]:
    """For each plan: up to date (its key has an image) or build, with the reasons.

    ``plans`` hold every image whose key is needed (ancestors included, parents first);
    ``force`` names images to rebuild whatever their key; ``in_registry`` answers, for content
    not found locally, which registry reference has it.
    """
    by_name = {p.name: p for p in plans}
    by_key = {e.key: e for e in existing}
    # Every earlier image of a name, newest first: the reasons are told against the closest.
    earlier: dict[str, list[Existing]] = {}
    for e in sorted(existing, key=lambda e: e.created, reverse=True):
        earlier.setdefault(e.name, []).append(e)
    decisions = []
    for plan in plans:
        key = keys.of(plan, by_name)
        found = by_key.get(key.digest)
        if plan.name in force:
            decisions.append(Decision(plan, key, "build", ("--force",)))
        elif found is not None:
            decisions.append(
                Decision(plan, key, "up-to-date", image_id=found.image_id, local_tags=found.tags)
            )
        elif in_registry is not None and (remote := in_registry(plan, key)):
            decisions.append(Decision(plan, key, "up-to-date", remote=remote))
        else:
            decisions.append(Decision(plan, key, "build", _reasons(key, earlier.get(plan.name))))
    return decisions


def _reasons(key: ContentKey, earlier: Sequence[Existing] | None) -> tuple[str, ...]:
    """Why ``key`` needs building, told against the earlier image of the same name it differs
    least from (the newest among equals): another checkout's or branch's image of the name,
    built from other args, must not hide the one file this change touched."""
    if not earlier:
        return tuple(key.changes_since(None))
    told = [key.changes_since(e.inputs) for e in earlier]
    closest: list[str] = min(told, key=len)
    return tuple(closest)


@dataclass(frozen=True)
class Assessment:
    """Every image a build involves, decided: the selected ones and their in-repo ancestors."""

    decisions: tuple[Decision, ...]  # parents first
    selected: frozenset[str]

    def of(self, name: str) -> Decision:
        """The decision about ``name``."""
        return next(d for d in self.decisions if d.plan.name == name)

    @property
    def stale_parents(self) -> list[Decision]:
        """Ancestors outside the selection whose current content has no image yet."""
        return [d for d in self.decisions if d.plan.name not in self.selected and not d.up_to_date]

    @property
    def to_build(self) -> list[Decision]:
        """What the run builds: selected images not up to date, and stale ancestors first."""
        return [d for d in self.decisions if not d.up_to_date]

    @property
    def ready(self) -> dict[str, str]:
        """Up-to-date local images a build in this run may stand on: name -> content reference."""
        return {d.plan.name: d.key_ref for d in self.decisions if d.up_to_date and d.image_id}


def assess(
    engine: Engine | None,
    graph: Graph,
    plans: Sequence[ImagePlan],
    selected: Collection[str],
    *,
    force: bool = False,
    in_registry: Callable[[ImagePlan, ContentKey], str | None] | None = None,
    cache: Path | None = None,
) -> Assessment:
    """Decide, with one listing of the engine's images, which of the ``selected`` images of
    ``plans`` (which also hold their in-repo ancestors) need building; nothing is changed but the
    file-digest ``cache``. Without an ``engine`` (builds on BuildKit nodes) only the registry
    counts: no local image is looked at."""

    by_name = {p.name: p for p in plans}
    order = [n for wave in graph.waves(by_name) for n in wave]
    digests = DigestCache(cache)
    # Each outside base is asked about once, however many images stand on it.
    resolve: Resolve = functools.cache(engine.image_id) if engine else lambda _: None
    keys = Keys(graph, context_files, resolve, digests)
    existing = existing_images(engine.labelled_images(KEY_LABEL)) if engine else []
    decisions = decide(
        [by_name[n] for n in order],
        keys,
        existing,
        force=list(selected) if force else (),
        in_registry=in_registry,
    )
    digests.save()
    return Assessment(tuple(decisions), frozenset(selected))


def with_key(decision: Decision) -> ImagePlan:
    """The plan to build for ``decision``: its key as a label (with its parts) and a local tag."""
    plan, key = decision.plan, decision.key
    return replace(
        plan,
        labels={**plan.labels, KEY_LABEL: key.digest, INPUTS_LABEL: key.inputs_label()},
        aliases=(*plan.aliases, decision.key_ref),
    )


def key_tag(digest: str) -> str:
    """The registry tag that publishes content ``digest`` beside the image."""
    return f"{TAG_PREFIX}{digest[:32]}"


def with_key_tag(tags: TagSet, digest: str | None) -> TagSet:
    """``tags`` plus the content-key tag (immutable: the same content always has the same key),
    pushed before ``latest``."""
    if not digest:
        return tags
    latest = tuple(t for t in tags.tags if t not in tags.before_latest)
    return TagSet(tags.primary, (*tags.before_latest, key_tag(digest), *latest))
