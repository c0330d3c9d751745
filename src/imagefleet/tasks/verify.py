"""``invoke verify``: read a pushed image back from the registry and report what it is and what
is attested about it; exit 6 when it lacks what ``fleet.require`` asks for."""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ..errors import MissingFlagError
from ..reference import parse_target
from ._common import partial as record
from ._common import settings, speaks_errors
from .selection import HELP

# The library is imported inside the task: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from rich.tree import Tree

    from ..verification import PlatformReport, Report

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@task(
    help={
        "image": "the image to verify (a directory name under images/)",
        "registry": "HOST[:PORT]/NAMESPACE it was pushed to (default: fleet.registry)",
        "tag": "the tag (or sha256:… digest) to read (default: this commit's sha tag, as push "
        "and helm-deploy use)",
        "json": HELP["json"],
    },
)
@speaks_errors
def verify(
    c: Context,
    image: str | None = None,
    registry: str | None = None,
    tag: str | None = None,
    json: bool = False,
) -> None:
    """Read a pushed image back: platforms, digests, provenance, SBOM, labels; fleet.require.

    Reads ``<registry>/<image>:<tag>`` over the registry's API (credentials, TLS and loopback
    HTTP as for pushes): the index (or single manifest), each platform manifest and its config
    (labels), and BuildKit's attestation manifests (SLSA provenance v0.2/v1, SPDX SBOM). With
    ``fleet.require`` (``provenance``, ``sbom``, ``platforms``) a missing item is exit 6.

    ``--json`` prints one object: ``image``, ``reference``, ``digest`` (of the index or the one
    manifest), ``media_type``, ``platforms`` (each ``platform``, ``digest``, ``config_digest``,
    ``labels``, ``provenance``: null or ``predicate_type``, ``builder_id``, ``source``,
    ``revision``, ``build_args``, ``base_images`` [``uri``, ``digest``], ``started``,
    ``finished``; ``sbom``: null or ``format``, ``packages``, ``documents``), ``required`` and
    ``missing`` (phrases such as ``"sbom (linux/arm64)"``); a failure adds ``error``.
    """
    from .. import catalog as catalog_mod
    from .. import git as git_mod
    from .. import verification
    from ..reference import validate_tag
    from ..registry import client_for, with_retries
    from ..tags import primary_tag

    s = settings(c)
    if not image:
        raise MissingFlagError(task="verify", flags="--image", usage="--image NAME --tag TAG")
    target = parse_target(registry) if registry else s.target
    manifest = catalog_mod.discover(s.images_dir).get(image).manifest
    if tag is None:
        reference = primary_tag(git_mod.state(s.root))
    else:
        reference = tag if _DIGEST_RE.match(tag) else validate_tag(tag)
    expected = manifest.platforms or s.platforms
    client, _ = client_for(target)
    with console.working(f"verify {image} in {target}"):
        read = partial(verification.read, client, target, image, reference)
        report = with_retries(read, s.push_attempts, s.push_max_wait)
    result: dict[str, Any] = {
        **report.as_dict(),
        "required": list(s.require),
        "missing": verification.missing(report, s.require, expected),
    }
    record(**result)  # a failing --json run prints the report beside its error
    if not json:
        console.out.print(_tree(report, result["required"], result["missing"]))
    verification.check(report, s.require, expected)
    if json:
        console.emit_json(result)


def _shown(value: str) -> str:
    """A value from the registry as printed: escaped for rich, secrets redacted."""
    return escape(console.redact(value))


def _tree(report: Report, required: list[str], missing: list[str]) -> Tree:
    from rich.tree import Tree

    kind = f"[dim]{_shown(report.media_type)}[/]"
    root = Tree(f"[bold]{_shown(report.reference)}[/] {_shown(report.digest)} {kind}")
    for p in report.platforms:
        _platform(root.add(f"[bold]{_shown(p.platform)}[/]"), p)
    if required:
        verdict = (
            "[green]all present[/]"
            if not missing
            else "[red]missing[/] " + _shown("; ".join(missing))
        )
        root.add(f"required {_shown(', '.join(required))}: {verdict}")
    return root


def _platform(node: Tree, p: PlatformReport) -> None:
    node.add(f"manifest {_shown(p.digest)}")
    node.add(f"config {_shown(p.config_digest)}")
    if p.provenance is None:
        node.add("provenance [yellow]none[/]")
    else:
        v = p.provenance
        branch = node.add(f"provenance {_shown(v.predicate_type)}")
        branch.add(f"builder {_shown(v.builder_id or '-')}")
        if v.source or v.revision:
            branch.add(f"source {_shown(v.source or '-')} revision {_shown(v.revision or '-')}")
        args = branch.add("build args" + ("" if v.build_args else " [dim]none[/]"))
        for name, value in sorted(v.build_args.items()):
            args.add(f"{_shown(name)}={_shown(value)}")
        bases = branch.add("base images" + ("" if v.base_images else " [dim]none[/]"))
        for m in v.base_images:
            bases.add(f"{_shown(m.uri)} {_shown(m.digest)}")
        branch.add(f"built {_shown(v.started or '?')} → {_shown(v.finished or '?')}")
    if p.sbom is None:
        node.add("sbom [yellow]none[/]")
    else:
        node.add(
            f"sbom {_shown(p.sbom.format)}, {p.sbom.packages} packages "
            f"({p.sbom.documents} document{'s' if p.sbom.documents != 1 else ''})"
        )
    labels = node.add("labels" + ("" if p.labels else " [dim]none[/]"))
    for name, value in sorted(p.labels.items()):
        labels.add(f"{_shown(name)}={_shown(value)}")
