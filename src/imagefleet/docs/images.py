"""The Images section: one page per image and the index, from the image's directory.

A page includes the image's README and adds what its ``image.yml``, Dockerfile and tests say:
pinned tools, build arguments, tags, structure tests, and the images it builds on.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import catalog as catalog_mod
from ..catalog import README
from ..errors import MissingReadmeError, StructureTestYamlError
from ..graph import Graph
from ..settings import Settings
from ..tags import LATEST, version_tags
from . import markdown as md

IMAGES_PAGES = Path("docs") / "images"

_RENOVATE = re.compile(
    r"#\s*renovate:\s*datasource=(?P<datasource>\S+)\s+depName=(?P<dep>\S+)"
    r"(?:\s+versioning=(?P<versioning>\S+))?"
)


@dataclass(frozen=True)
class Tool:
    """A ``*_VERSION`` build argument: a tool version the image pins."""

    arg: str
    version: str
    dependency: str | None  # Renovate's depName, when the ARG carries the annotation
    datasource: str | None


def tools(image: catalog_mod.Image) -> list[Tool]:
    """The pinned tool versions of an image, in Dockerfile order, with their Renovate source."""
    lines = image.dockerfile_path.read_text(encoding="utf-8").splitlines()
    effective = image.build_args()
    found: list[Tool] = []
    seen: set[str] = set()
    for arg in (
        *image.dockerfile.global_args,
        *(a for s in image.dockerfile.stages for a in s.args),
    ):
        if not arg.name.endswith("_VERSION") or arg.name in seen:
            continue
        seen.add(arg.name)
        above = lines[arg.line - 2] if arg.line >= 2 else ""
        match = _RENOVATE.search(above)
        found.append(
            Tool(
                arg=arg.name,
                version=effective.get(arg.name, arg.default or ""),
                dependency=match["dep"] if match else None,
                datasource=match["datasource"] if match else None,
            )
        )
    return found


def _structure_checks(path: Path) -> list[tuple[str, str, str]]:
    """(kind, what, name) of every check in a container-structure-test config."""
    if not path.is_file():
        return []
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise StructureTestYamlError(path=path, problem=exc) from exc
    checks: list[tuple[str, str, str]] = []
    for test in data.get("commandTests") or ():
        argv = shlex.join([str(test.get("command", "")), *map(str, test.get("args") or ())])
        checks.append(("command", argv, str(test.get("name", ""))))
    for test in data.get("fileExistenceTests") or ():
        exists = "exists" if test.get("shouldExist", True) else "is absent"
        checks.append(("file", f"{test.get('path', '')} {exists}", str(test.get("name", ""))))
    for test in data.get("fileContentTests") or ():
        checks.append(("file content", str(test.get("path", "")), str(test.get("name", ""))))
    metadata = data.get("metadataTest") or {}
    for key in ("user", "workdir", "entrypoint", "cmd"):
        if key in metadata:
            checks.append(("metadata", f"{key} = {metadata[key]}", ""))
    for env in metadata.get("envVars") or metadata.get("env") or ():
        checks.append(("metadata", f"env {env.get('key')} = {env.get('value')}", ""))
    for label in metadata.get("labels") or ():
        relation = "matches" if label.get("isRegex") else "="
        checks.append(("metadata", f"label {label.get('key')} {relation} {label.get('value')}", ""))
    return checks


def _pytest_tests(image: catalog_mod.Image) -> list[tuple[str, str]]:
    """(file, test function) for every ``test_*`` function in the image's pytest files."""
    found: list[tuple[str, str]] = []
    for path in image.pytest_files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"
            ):
                found.append((path.name, node.name))
    return found


def _readme(root: Path, image: catalog_mod.Image) -> str:
    path = image.readme
    if not path.is_file():
        raise MissingReadmeError(directory=image.directory.relative_to(root))
    return path.relative_to(root).as_posix()


def _tag_rows(image: catalog_mod.Image, settings: Settings) -> list[tuple[str, str]]:
    rows = [
        ("`<full git sha>`, `sha-<12 characters>`", "every push of a clean commit"),
    ]
    if image.version:
        versions = ", ".join(f"`{t}`" for t in version_tags(image.version))
        rows.append((versions, f"`version: {image.version}` in `image.yml`"))
    if image.manifest.tags:
        extra = ", ".join(f"`{t}`" for t in image.manifest.tags)
        rows.append((extra, "`tags` in `image.yml`"))
    rows.append(
        (
            f"`{LATEST}`",
            f"pushes from `{settings.default_branch}` (or with `--latest`), after every other tag "
            "is verified",
        )
    )
    rows.append(
        (
            "`<sha>-dirty`, `sha-<12>-dirty`",
            "instead of all of these, from a working tree with uncommitted changes",
        )
    )
    return rows


def image_page(root: Path, image: catalog_mod.Image, graph: Graph, settings: Settings) -> str:
    """The docs page of one image: its README, then what the manifest and Dockerfile say."""
    readme = _readme(root, image)
    directory = image.directory.relative_to(root).as_posix()
    manifest = image.manifest
    final = image.dockerfile.final
    parents = graph.parent_names(image.name)
    children = graph.children(image.name)
    repository = settings.target.repository(image.name)
    versions = version_tags(image.version) if image.version else ()
    pull_tag = versions[0] if versions else LATEST

    def link(name: str) -> str:
        return f"[{name}]({name}.md)"

    facts = [
        ("Repository", md.token(repository)),
        ("Description", md.text(image.description) or "(none: add `description` to `image.yml`)"),
        ("Owner", md.code(manifest.owner) if manifest.owner else "(not set)"),
        ("Lifecycle", manifest.lifecycle),
        ("Version", md.code(image.version) if image.version else "(none: sha tags only)"),
        (
            "Platforms",
            ", ".join(md.code(p) for p in manifest.platforms or settings.platforms)
            or "the Docker daemon's own",
        ),
        ("Base image", md.token(image.base_image())),
        ("Builds on", ", ".join(link(p) for p in parents) or "no image of this repository"),
        ("Built on by", ", ".join(link(c) for c in children) or "no image of this repository"),
        ("Runs as", md.code(final.user) if final.user else "root (no `USER`)"),
        ("Working directory", md.code(final.workdir) if final.workdir else "/"),
        ("Source", md.code(f"{directory}/")),
    ]
    if manifest.runs_as_root:
        facts.append(("Why root", md.text(manifest.runs_as_root)))

    lines = [
        md.NOTE.format(source=f"{directory}/ (image.yml, Dockerfile, {README}, tests/)"),
        "",
        f'--8<-- "{readme}"',
        "",
        "## Image reference",
        "",
        f"Generated from {md.code(directory + '/')} by `invoke docs`: what the manifest, the "
        "Dockerfile and the tests say, so it is always the image as it is built.",
        "",
        "### At a glance",
        "",
        *md.table(("property", "value"), facts),
        "",
        "### Tools and versions",
        "",
    ]
    pinned = tools(image)
    if pinned:
        lines += [
            "Pinned in the Dockerfile's `*_VERSION` build arguments (Renovate keeps them current):",
            "",
            *md.table(
                ("tool", "version", "build argument", "source"),
                (
                    (
                        md.code(t.dependency)
                        if t.dependency
                        else md.text(t.arg.removesuffix("_VERSION").lower()),
                        md.code(t.version),
                        md.code(t.arg),
                        t.datasource or "(no `# renovate:` comment)",
                    )
                    for t in pinned
                ),
            ),
        ]
    else:
        lines.append("No `*_VERSION` build arguments: the tools come with the base image.")
    arg_rows = []
    for name in image.dockerfile.arg_defaults():
        source = "image.yml" if name in manifest.build_args else "Dockerfile"
        value = image.build_args().get(name)
        arg_rows.append(
            (
                md.code(name),
                md.code(value) if value else "(set by the builder)",
                source if value else "",
            )
        )
    lines += [
        "",
        "Every build argument, with the value a plain `invoke build` uses "
        "(`--build-arg NAME=VALUE` overrides it):",
        "",
        *md.table(("build argument", "value", "from"), arg_rows),
        "",
        "### Tags",
        "",
        f"`invoke push` gives each build these tags in {md.code(repository)} "
        "([tag policy](../adr/0003-tag-policy.md)):",
        "",
        *md.table(("tags", "when"), _tag_rows(image, settings)),
        "",
        "### Pull, build, test",
        "",
        "```console",
        f"docker pull {repository}:{pull_tag}",
        f"invoke build --image {image.name}          # build it from this checkout",
        f"invoke test --image {image.name}           # run its structure tests against the build",
        "```",
        "",
        "### Structure tests",
        "",
    ]
    structure = image.structure_tests
    checks = _structure_checks(structure)
    if checks:
        lines += [
            f"`invoke test --image {image.name}` runs "
            f"{md.code(structure.relative_to(root).as_posix())} with container-structure-test:",
            "",
            *md.table(
                ("check", "what", "name"),
                ((kind, md.code(what), md.text(name)) for kind, what, name in checks),
            ),
        ]
    else:
        lines.append(f"No `{structure.relative_to(image.directory).as_posix()}` yet.")
    suites = _pytest_tests(image)
    if suites:
        lines += [
            "",
            "And with pytest (`tests/test_*.py`):",
            "",
            *(f"- {md.code(f'{file}::{name}')}" for file, name in suites),
        ]
    ancestors = sorted(graph.ancestors(image.name))
    if ancestors:
        lines += [
            "",
            "It must also pass the tests of the images it builds on: "
            + ", ".join(link(a) for a in ancestors)
            + ".",
        ]
    if manifest.docs:
        lines += ["", "### Documentation", ""]
        lines += [f"- [{md.text(d.title)}]({d.url})" for d in manifest.docs]
    return md.page(lines)


def _tool_list(image: catalog_mod.Image) -> str:
    """``helm 4.3.0, kubectl 1.37.1``: the pinned tools, named after their ``*_VERSION`` ARG."""
    pinned = [
        f"{t.arg.removesuffix('_VERSION').lower().replace('_', '-')} {t.version}"
        for t in tools(image)
    ]
    return ", ".join(md.token(t) for t in pinned) or "(from the base image)"


def images_index(root: Path, images: Sequence[catalog_mod.Image], graph: Graph) -> str:
    """The Images section's front page: the fleet table, the family tree, the build order."""
    rows = [
        (
            f"[{i.name}]({i.name}.md)",
            md.token(i.base_image()),
            _tool_list(i),
            md.text(i.description),
        )
        for i in images
    ]
    diagram = ["```mermaid", "flowchart LR"]
    externals: dict[str, str] = {}
    for image in images:
        node = md.mermaid_id("img_", image.name)
        diagram.append(f'    {node}["{md.mermaid_label(image.name)}"]')
        parents = graph.parent_names(image.name)
        for parent in parents:
            diagram.append(f"    {md.mermaid_id('img_', parent)} --> {node}")
        if not parents:
            base = image.base_image()
            ext = externals.setdefault(base, f"ext_{len(externals)}")
            diagram.append(f'    {ext}["{md.mermaid_label(base)}"]:::external --> {node}')
    diagram += ["    classDef external stroke-dasharray: 4 4", "```"]
    waves = graph.waves()
    lines = [
        md.NOTE.format(source="images/*/"),
        "",
        "# Images",
        "",
        f"{len(images)} images live under `images/`. Each page is generated from the image's "
        "directory (its `image.yml`, `Dockerfile`, `README.md` and `tests/`) by `invoke docs`, so "
        "adding an image adds its page; see [Adding an image](../operations/adding-an-image.md).",
        "",
        "The whole fleet: each image's base, the tool versions its Dockerfile pins in `*_VERSION` "
        "build arguments, and what it is for (version, owner and lifecycle: on its page).",
        "",
        *md.table(("image", "base image", "pinned tools", "purpose"), rows),
        "",
        "## Where they come from",
        "",
        "Each image's external base (dashed), or the image of this repository it builds on. "
        "A change to an image rebuilds everything below it.",
        "",
        *diagram,
        "",
        "## Build order",
        "",
        "`invoke build --all` builds in these waves; an image starts as soon as its parents "
        "in the run are built:",
        "",
        *(f"{n}. " + ", ".join(f"[{x}]({x}.md)" for x in wave) for n, wave in enumerate(waves, 1)),
    ]
    return md.page(lines)
