"""Fleet policy as code: what every image directory must satisfy, each rule named and tested.

| rule | what it asks |
|---|---|
| ``manifest`` | ``image.yml`` (when present) validates |
| ``structure-tests`` | ``tests/structure.yaml`` exists |
| ``readme`` | ``README.md`` exists (the human part of the image's docs page) |
| ``pinned-base`` | outside images (``FROM``, ``COPY --from``) have a version tag or a digest |
| ``pinned-versions`` | each ``ARG *_VERSION`` has a concrete default (not ``latest``…) |
| ``checksummed-downloads`` | a downloading ``RUN`` verifies (``sha256sum -c``…), ``ADD`` too |
| ``no-pipe-to-shell`` | no ``curl … | sh`` |
| ``non-root`` | the final ``USER`` is not root, unless ``image.yml`` says why (``runs_as_root``) |
| ``no-secrets`` | no ``ARG``/``ENV`` whose name looks like a secret (``secrets:`` mounts those) |
| ``labels-from-build`` | no ``org.opencontainers.image.*`` ``LABEL`` lines: the build sets them |
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import catalog as catalog_mod
from . import dockerfile as dockerfile_mod
from .errors import ManifestError
from .graph import match_parent
from .reference import Target

RULES = (
    "manifest",
    "structure-tests",
    "readme",
    "pinned-base",
    "pinned-versions",
    "checksummed-downloads",
    "no-pipe-to-shell",
    "non-root",
    "no-secrets",
    "labels-from-build",
)
_FLOATING = {"", "latest", "stable", "lts", "current", "edge", "nightly", "main", "master"}
_DOWNLOAD = re.compile(r"\b(curl|wget)\b[^|;&]*\bhttps?://|\b(curl|wget)\b.*\$\{?\w*URL", re.I)
_VERIFY = re.compile(
    r"sha(256|384|512)sum\s+(-c|--check)|shasum\s+(-a\s+\d+\s+)?(-c|--check)|gpg\s+(--batch\s+)?"
    r"--verify|cosign\s+verify|minisign\s+-V|\bsha256sum\b.*\|\s*grep\s+-q",
    re.I,
)
_PIPE_TO_SHELL = re.compile(r"\b(curl|wget)\b[^;&]*\|\s*(sudo\s+)?(ba|z|da)?sh\b", re.I)
# Secret-like names are judged by whole words (split at `_`, `-`, `.` and camelCase humps), so
# TOKENIZER_VERSION, AUTHOR or PASSENGER_COUNT pass where a substring match would refuse them.
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SECRET_WORDS = frozenset(
    {
        *("TOKEN", "TOKENS", "PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PASSPHRASE"),
        *("SECRET", "SECRETS", "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH"),
        *("APIKEY", "PRIVATEKEY", "ACCESSKEY", "AUTHTOKEN"),
    }
)
# KEY alone is too common to mean a secret (GPG_KEY holds a public fingerprint): only these pairs.
_SECRET_PAIRS = frozenset(
    {
        *(("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY"), ("SSH", "KEY")),
        *(("SIGNING", "KEY"), ("ENCRYPTION", "KEY"), ("LICENSE", "KEY"), ("MASTER", "KEY")),
    }
)
# A name that ends in one of these says where or how a secret is found, not what it is:
# NPM_TOKEN_FILE (the Docker `_FILE` convention), AUTH_URL, SECRET_NAME, TOKEN_TYPE.
_NOT_THE_SECRET = frozenset(
    {
        *("FILE", "PATH", "DIR", "URL", "URI", "ENDPOINT", "HOST", "PORT", "NAME", "TYPE"),
        *("METHOD", "MODE", "VERSION", "ENABLED"),
    }
)
_ROOT_USERS = {"root", "0", "0:0", "root:root"}


def looks_secret(name: str) -> bool:
    """Whether an ``ARG``/``ENV`` name looks like it holds a secret (a password, token, key or
    credentials), judged by whole words, case-insensitively."""
    words = [w.upper() for w in _NAME_WORDS.findall(name)]
    if not words or words[-1] in _NOT_THE_SECRET:
        return False
    return any(w in _SECRET_WORDS for w in words) or any(
        pair in _SECRET_PAIRS for pair in itertools.pairwise(words)
    )


@dataclass(frozen=True)
class Violation:
    """One broken rule."""

    image: str
    rule: str
    message: str
    path: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: [{self.rule}] {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _pinned(ref: str) -> bool:
    if "@" in ref:
        return True
    last = ref.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1].lower() not in _FLOATING


def _instruction_lines(
    parsed: dockerfile_mod.Dockerfile, keyword: str
) -> Iterable[dockerfile_mod.Instruction]:
    return (i for i in parsed.instructions if i.keyword == keyword)


Add = Callable[[str, str, Path, int | None], None]


def _file_rules(directory: Path, rel: Path, add: Add) -> None:
    structure = catalog_mod.STRUCTURE_TESTS
    if not (directory / structure).is_file():
        add(
            "structure-tests",
            f"no {structure.as_posix()} (container-structure-test config)",
            rel / structure.parent,
            None,
        )
    if not (directory / catalog_mod.README).is_file():
        readme = catalog_mod.README
        add("readme", f"no {readme} (the human part of the image's docs page)", rel, None)


def _reference_rules(
    image: catalog_mod.Image, names: Sequence[str], targets: Sequence[Target], path: Path, add: Add
) -> None:
    args = dict(image.manifest.build_args)
    for ref, line in image.dockerfile.external_refs(args, local=image.manifest.contexts):
        if match_parent(ref, names, targets) is None and not _pinned(ref):
            add(
                "pinned-base", f"{ref} is not pinned: give it a version tag or a digest", path, line
            )


def _variable_rules(image: catalog_mod.Image, path: Path, add: Add) -> None:
    parsed = image.dockerfile
    for arg in (*parsed.global_args, *(a for s in parsed.stages for a in s.args)):
        if arg.name.endswith("_VERSION") and (arg.default or "").strip().lower() in _FLOATING:
            add(
                "pinned-versions",
                f"ARG {arg.name} needs a concrete default version (got {arg.default!r})",
                path,
                arg.line,
            )
        if looks_secret(arg.name):
            add(
                "no-secrets",
                f"ARG {arg.name} looks like a secret: build args stay in the image's config and "
                "history; declare it under `secrets:` in image.yml and mount it in the RUN step "
                "that needs it (RUN --mount=type=secret,id=…)",
                path,
                arg.line,
            )
    for inst in _instruction_lines(parsed, "ENV"):
        for key in dockerfile_mod.parse_key_values(inst, image.dockerfile_path):
            if looks_secret(key):
                add(
                    "no-secrets",
                    f"ENV {key} looks like a secret: it is baked into the image; a build needing "
                    "it mounts it from `secrets:` in image.yml",
                    path,
                    inst.line,
                )


def _instruction_rules(image: catalog_mod.Image, path: Path, add: Add) -> None:
    parsed = image.dockerfile
    for inst in _instruction_lines(parsed, "RUN"):
        if _PIPE_TO_SHELL.search(inst.value):
            add(
                "no-pipe-to-shell",
                "a download is piped into a shell: download, verify, then run",
                path,
                inst.line,
            )
        elif _DOWNLOAD.search(inst.value) and not _VERIFY.search(inst.value):
            add(
                "checksummed-downloads",
                "this RUN downloads without verifying a checksum or "
                "signature (e.g. sha256sum -c against the published checksum file)",
                path,
                inst.line,
            )
    for inst in _instruction_lines(parsed, "ADD"):
        if re.search(r"\bhttps?://", inst.value) and "--checksum=" not in inst.value:
            add("checksummed-downloads", "ADD <url> without --checksum=sha256:…", path, inst.line)
    for inst in _instruction_lines(parsed, "LABEL"):
        if "org.opencontainers.image." in inst.value:
            add(
                "labels-from-build",
                "OCI labels are set by the build (invoke build); remove this LABEL",
                path,
                inst.line,
            )


def _user_rule(image: catalog_mod.Image, path: Path, add: Add) -> None:
    final = image.dockerfile.final
    user = (final.user or "").strip()
    is_root = not user or user.lower() in _ROOT_USERS or user.startswith("0:")
    if is_root and not image.manifest.runs_as_root:
        why = "no USER in the final stage" if not user else f"USER {user} is root"
        add(
            "non-root",
            f"{why}: run as a non-root user, or give the reason in image.yml (runs_as_root: …)",
            path,
            final.line,
        )


def check_image(
    directory: Path, names: Sequence[str], targets: Sequence[Target], root: Path
) -> list[Violation]:
    """Every rule against one image directory (paths in messages relative to ``root``)."""
    rel = directory.relative_to(root)
    found: list[Violation] = []
    name = directory.name

    def add(rule: str, message: str, path: Path, line: int | None) -> None:
        found.append(Violation(name, rule, message, str(path), line))

    try:
        image = catalog_mod.load_image(directory)
    except ManifestError as exc:
        add("manifest", exc.message, rel / catalog_mod.MANIFEST, None)
        return found
    name = image.name
    dockerfile = rel / catalog_mod.DOCKERFILE
    _file_rules(directory, rel, add)
    _reference_rules(image, names, targets, dockerfile, add)
    _variable_rules(image, dockerfile, add)
    _instruction_rules(image, dockerfile, add)
    _user_rule(image, dockerfile, add)
    return found


def check(
    images_dir: Path, targets: Sequence[Target], root: Path, only: Iterable[str] | None = None
) -> list[Violation]:
    """Every rule against every image directory (or the ``only`` directory names)."""
    directories = catalog_mod.image_directories(images_dir)
    names = [d.name for d in directories]
    wanted = set(only) if only is not None else None
    violations: list[Violation] = []
    for directory in directories:
        if wanted is None or directory.name in wanted:
            violations.extend(check_image(directory, names, targets, root))
    return violations


def sarif_run(violations: Sequence[Violation]) -> dict[str, Any]:
    """The violations as one SARIF run, to sit beside hadolint's in a code-scanning upload."""
    return {
        "tool": {
            "driver": {
                "name": "imagefleet-policy",
                "informationUri": "https://example.invalid/imagefleet/policy",
                "rules": [{"id": rule} for rule in RULES],
            }
        },
        "results": [
            {
                "ruleId": v.rule,
                "level": "error",
                "message": {"text": v.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": v.path},
                            "region": {"startLine": v.line or 1},
                        }
                    }
                ],
            }
            for v in violations
        ],
    }
