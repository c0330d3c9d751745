from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet.catalog import Image, discover, load_manifest
from imagefleet.errors import (
    ImageWithoutDockerfileError,
    ManifestDuplicateKeyError,
    ManifestError,
    NotAFileError,
    NotUtf8Error,
    UnknownImageError,
)

DOCKERFILE = "ARG BASE=alpine:3.21.3\nFROM ${BASE}\nARG TOOL_VERSION=1.0.0\nUSER 1000\n"


def _image(
    root: Path, name: str, manifest: str | None = None, dockerfile: str = DOCKERFILE
) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(dockerfile)
    if manifest is not None:
        (directory / "image.yml").write_text(manifest)
    return directory


def test_every_directory_with_a_dockerfile_is_an_image(tmp_path: Path) -> None:
    _image(tmp_path, "helm-deploy", "description: Helm and kubectl\nversion: 1.2.3\n")
    _image(tmp_path, "act-runner")
    (tmp_path / "not-an-image").mkdir()
    (tmp_path / "README.md").write_text("x")
    catalog = discover(tmp_path)
    assert catalog.names == ("act-runner", "helm-deploy")
    helm = catalog.get("helm-deploy")
    assert (helm.description, helm.version) == ("Helm and kubectl", "1.2.3")
    assert catalog.get("act-runner").manifest.lifecycle == "production"


def test_manifest_overrides_args_and_name(tmp_path: Path) -> None:
    _image(
        tmp_path,
        "dir-name",
        "name: other-name\nbuild_args:\n  BASE: alpine:3.22.1\n  TOOL_VERSION: 2\n",
    )
    image = discover(tmp_path).get("other-name")
    assert image.build_args() == {"BASE": "alpine:3.22.1", "TOOL_VERSION": "2"}
    assert image.build_args({"TOOL_VERSION": "3"})["TOOL_VERSION"] == "3"
    assert image.base_image() == "alpine:3.22.1"
    assert image.base_image({"BASE": "mirror.local/alpine:3"}) == "mirror.local/alpine:3"


def test_unknown_image_suggests_close_names(tmp_path: Path) -> None:
    _image(tmp_path, "helm-deploy")
    _image(tmp_path, "rust-releaser")
    catalog = discover(tmp_path)
    with pytest.raises(UnknownImageError) as info:
        catalog.get("helm-deplyo")
    assert "unknown image 'helm-deplyo'" in info.value.message
    assert "helm-deploy" in info.value.hint
    with pytest.raises(UnknownImageError) as far:
        catalog.get("zzz")
    assert "invoke list" in far.value.hint


def test_select_dedupes_and_keeps_order(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        _image(tmp_path, name)
    catalog = discover(tmp_path)
    assert [i.name for i in catalog.select(["c", "a", "c"])] == ["c", "a"]
    assert [i.name for i in catalog.select([], all_images=True)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("manifest", "line", "expected"),
    [
        ("description: x\nversion: 1.2\n", 2, "version: a semantic version"),
        ("version: 1.0.0\ncolour: blue\n", 2, "unknown field 'colour'"),
        ("platforms:\n  - linux/amd64\n  - Linux/ARM\n", 3, "platforms.1"),
        ("build_args:\n  TOOL_VERSION: [1, 2]\n", 2, "build_args"),
        ("build_args:\n  9BAD: x\n", 2, "build_args.9BAD: build arg names are identifiers"),
        ("tags:\n  - ok\n  - 'bad tag'\n", 3, "invalid tag"),
        ("tags: [latest]\n", 1, "managed by the tag policy"),
        ("lifecycle: retired\n", 1, "lifecycle"),
        ("description: [unclosed\n", 2, "invalid YAML"),
        ("- a list\n", 1, "expected a mapping"),
        ("docs:\n  - url: ftp://x\n    title: t\n", 2, "docs.0.url"),
        ("contexts:\n  Tools:\n    executables: {a: b}\n", 2, "a context name such as tools"),
        ("contexts:\n  tools:\n    executables: {}\n", 3, "contexts.tools.executables"),
        ("contexts:\n  tools:\n    executables: {bin/a: b}\n", 3, "an executable's file name"),
        ("contexts:\n  tools:\n    executables: {a: ''}\n", 3, "contexts.tools.executables.a"),
        ("contexts:\n  tools:\n    files: [a]\n", 3, "executables: Field required"),
        ("secrets:\n  npm:\n    env: NPM_TOKEN\n    optional: 'yes'\n", 4, "secrets.npm.optional"),
        ("secrets:\n  npm:\n    env: 1NPM\n", 3, "secrets.npm.env: an environment variable"),
        ("secrets:\n  npm:\n    env: X\n    value: abc\n", 4, "unknown field 'secrets.npm.value'"),
        ("secrets:\n  npm: NPM_TOKEN\n", 2, "secrets.npm: Input should be a valid dictionary"),
        ("secrets:\n  'id=x,env':\n    env: X\n", 2, "a secret id is letters"),
    ],
)
def test_bad_manifest_names_file_line_and_expectation(
    tmp_path: Path, manifest: str, line: int, expected: str
) -> None:
    path = _image(tmp_path, "img", manifest) / "image.yml"
    with pytest.raises(ManifestError) as info:
        discover(tmp_path)
    assert info.value.message.startswith(f"{path}:{line}: "), info.value.message
    assert expected in info.value.message
    assert info.value.hint


def test_contexts_name_executables_and_their_packages(tmp_path: Path) -> None:
    manifest = "contexts:\n  tools:\n    executables:\n      busybox: busybox-static\n"
    [image] = discover_one(tmp_path, manifest)
    assert image.manifest.contexts["tools"].executables == {"busybox": "busybox-static"}
    # `COPY --from=tools` then reads the named context, not an outside image.
    assert image.dockerfile.external_images(local=image.manifest.contexts) == ("alpine:3.21.3",)


def discover_one(root: Path, manifest: str) -> tuple[Image, ...]:
    dockerfile = DOCKERFILE + "COPY --from=tools busybox /bin/\n"
    _image(root, "img", manifest, dockerfile)
    return discover(root).images


def test_secrets_name_ids_and_variables(tmp_path: Path) -> None:
    manifest = "secrets:\n  npm_token:\n    env: NPM_TOKEN\n  sentry.auth:\n    env: SENTRY\n"
    path = _image(tmp_path, "img", manifest + "    optional: true\n") / "image.yml"
    found = load_manifest(path).secrets
    assert {k: (v.env, v.optional) for k, v in found.items()} == {
        "npm_token": ("NPM_TOKEN", False),
        "sentry.auth": ("SENTRY", True),
    }


def test_empty_manifest_is_all_defaults(tmp_path: Path) -> None:
    path = _image(tmp_path, "img", "") / "image.yml"
    assert load_manifest(path).version is None


def test_build_args_must_be_declared_in_dockerfile(tmp_path: Path) -> None:
    _image(tmp_path, "img", "build_args:\n  UNDECLARED: x\n")
    with pytest.raises(ManifestError, match="not declared with ARG"):
        discover(tmp_path)


def test_invalid_directory_name_is_rejected(tmp_path: Path) -> None:
    _image(tmp_path, "Bad_Name")
    with pytest.raises(ManifestError, match="invalid image name"):
        discover(tmp_path)


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    _image(tmp_path, "one", "name: same\n")
    _image(tmp_path, "two", "name: same\n")
    with pytest.raises(ManifestError, match="two images are called 'same'"):
        discover(tmp_path)


def test_missing_images_dir(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no images directory"):
        discover(tmp_path / "images")


def test_repository_fixtures_load() -> None:
    root = Path(__file__).resolve().parents[1] / "fixtures" / "images"
    catalog = discover(root)
    hello = catalog.get("fx-hello")
    assert hello.version == "1.4.2"
    assert hello.build_args() == {"BASE": "scratch", "GREETING": "hello", "AUDIENCE": "fleet"}
    assert catalog.get("fx-plain").description.startswith("A plain fixture")


@pytest.mark.parametrize(
    ("manifest", "where", "key"),
    [
        ('description: a\nversion: "1.0.0"\ndescription: b\n', ":3:", "'description'"),
        ("build_args:\n  BASE: a\n  BASE: b\n", ":3:", "'BASE'"),
        ("docs:\n  - url: https://a\n    title: t\n    url: https://b\n", ":4:", "'url'"),
    ],
)
def test_duplicate_keys_are_refused_with_both_lines(
    tmp_path: Path, manifest: str, where: str, key: str
) -> None:
    directory = _image(tmp_path, "dup", manifest)
    with pytest.raises(ManifestDuplicateKeyError) as info:
        discover(tmp_path)
    assert info.value.exit_code == 2
    assert f"{directory / 'image.yml'}{where} duplicate key {key}" in info.value.message
    assert "first on line" in info.value.message


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    manifest = "docs:\n  - &d {url: 'https://a', title: t}\n  - <<: *d\n    title: u\n"
    _image(tmp_path, "merge", manifest)
    docs = discover(tmp_path).get("merge").manifest.docs
    assert [(d.url, d.title) for d in docs] == [("https://a", "t"), ("https://a", "u")]


def test_manifest_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    directory = _image(tmp_path, "latin", None)
    (directory / "image.yml").write_bytes(b"version: 1.0.0\ndescription: caf\xe9\n")
    with pytest.raises(NotUtf8Error) as info:
        discover(tmp_path)
    assert info.value.message == (
        f"{directory / 'image.yml'}:2: not UTF-8 text (byte 0xe9 at column 17)"
    )
    assert info.value.exit_code == 2


def test_manifest_without_dockerfile_is_refused(tmp_path: Path) -> None:
    _image(tmp_path, "fine")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "image.yml").write_text("description: forgot the Dockerfile\n")
    with pytest.raises(ImageWithoutDockerfileError) as info:
        discover(tmp_path)
    assert str(lonely / "image.yml") in info.value.message
    assert f"add {lonely}/Dockerfile" in info.value.hint
    assert info.value.exit_code == 2


def test_dockerfile_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    (odd / "Dockerfile").mkdir(parents=True)
    with pytest.raises(NotAFileError) as info:
        discover(tmp_path)
    assert info.value.message == f"{odd / 'Dockerfile'}: is a directory, not a file"
    assert info.value.exit_code == 2


def test_manifest_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    directory = _image(tmp_path, "odd")
    (directory / "image.yml").mkdir()
    with pytest.raises(NotAFileError):
        discover(tmp_path)
