from __future__ import annotations

import pytest

from imagefleet.errors import InvalidReferenceError
from imagefleet.reference import (
    canonical_domain,
    canonical_path,
    parse_reference,
    parse_target,
    split_tag,
    validate_image_name,
    validate_tag,
)


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("alpine", None, "alpine", None, None),
        ("alpine:3.21.3", None, "alpine", "3.21.3", None),
        ("library/alpine:3", None, "library/alpine", "3", None),
        ("localhost:5000/team/app:1.0", "localhost:5000", "team/app", "1.0", None),
        (
            "ghcr.io/actions/actions-runner:2.321.0",
            "ghcr.io",
            "actions/actions-runner",
            "2.321.0",
            None,
        ),
        (
            "mcr.microsoft.com/playwright:v1.50.0-noble",
            "mcr.microsoft.com",
            "playwright",
            "v1.50.0-noble",
            None,
        ),
        ("localhost/app", "localhost", "app", None, None),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", None),
        ("rust@sha256:" + "a" * 64, None, "rust", None, "sha256:" + "a" * 64),
        ("node:22@sha256:" + "b" * 64, None, "node", "22", "sha256:" + "b" * 64),
    ],
)
def test_valid_references(
    text: str, domain: str | None, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "upper/CASE",
        "app:",
        "app:-leading-dash",
        "app:" + "x" * 129,
        "a//b",
        "app@sha256:12",
        "-app",
        "app_",
        "http://host/app",
        "app name",
    ],
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert info.value.hint


def test_name_length_limit() -> None:
    with pytest.raises(InvalidReferenceError, match="characters long"):
        parse_reference("a" * 256)


@pytest.mark.parametrize("tag", ["latest", "1.2.3", "sha-0123456789ab", "v1_x", "A" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a" * 129, "has space", "a/b", "a:b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        validate_tag(tag)


@pytest.mark.parametrize("name", ["helm-deploy", "rust-ci-runner", "a", "x.y", "a__b"])
def test_valid_image_names(name: str) -> None:
    assert validate_image_name(name) == name


@pytest.mark.parametrize("name", ["Helm", "a/b", "-a", "a-", "a..b", ""])
def test_invalid_image_names(name: str) -> None:
    with pytest.raises(InvalidReferenceError):
        validate_image_name(name)


@pytest.mark.parametrize(
    ("text", "domain", "namespace", "repository"),
    [
        ("docker.io/webgrip", "docker.io", "webgrip", "docker.io/webgrip/app"),
        ("localhost:5000", "localhost:5000", "", "localhost:5000/app"),
        ("localhost:5000/a/b/", "localhost:5000", "a/b", "localhost:5000/a/b/app"),
        ("ghcr.io/org", "ghcr.io", "org", "ghcr.io/org/app"),
    ],
)
def test_targets(text: str, domain: str, namespace: str, repository: str) -> None:
    target = parse_target(text)
    assert (target.domain, target.namespace) == (domain, namespace)
    assert target.repository("app") == repository


@pytest.mark.parametrize(
    "text", ["", "webgrip", "https://ghcr.io/org", "localhost:5000/Org", "/dev", "bad host:1/x"]
)
def test_invalid_targets(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_target(text)


@pytest.mark.parametrize(
    ("reference", "split"),
    [
        ("app", ("app", "latest")),
        ("app:1.0", ("app", "1.0")),
        ("localhost:5000/team/app", ("localhost:5000/team/app", "latest")),
        ("localhost:5000/team/app:2", ("localhost:5000/team/app", "2")),
    ],
)
def test_split_tag(reference: str, split: tuple[str, str]) -> None:
    assert split_tag(reference) == split


def test_docker_hub_spellings() -> None:
    assert canonical_domain(None) == canonical_domain("index.docker.io") == "docker.io"
    assert canonical_path("docker.io", "alpine") == "library/alpine"
    assert canonical_path("ghcr.io", "alpine") == "alpine"
    assert parse_target("docker.io").path_prefix == "library/"
    assert parse_target("docker.io/webgrip").path_prefix == "webgrip/"
    assert parse_target("localhost:5000").path_prefix == ""
