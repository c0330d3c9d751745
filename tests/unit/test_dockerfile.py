from __future__ import annotations

from pathlib import Path

import pytest

from imagefleet.dockerfile import parse, substitute
from imagefleet.errors import ManifestError, NotAFileError, NotUtf8Error

P = Path("Dockerfile")

HELM_LIKE = """\
# syntax=docker/dockerfile:1.7
# escape=\\
ARG BASE_IMAGE=alpine
ARG ALPINE_VERSION=3.21.3
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE}:${ALPINE_VERSION} AS fetch
ARG HELM_VERSION=3.17.2
RUN echo fetch
FROM ${BASE_IMAGE}:${ALPINE_VERSION}
COPY --from=fetch /usr/local/bin/helm /usr/local/bin/helm
COPY --chown=1000:1000 --from=docker.io/bitnami/kubectl:1.32 /opt/kubectl /k
LABEL org.opencontainers.image.description="Helm, kubectl and git" \\
      maintainer=platform
USER 1000:1000
WORKDIR /workspace
"""


def test_args_from_and_stages() -> None:
    d = parse(P, HELM_LIKE)
    assert d.syntax == "docker/dockerfile:1.7"
    assert [a.name for a in d.global_args] == ["BASE_IMAGE", "ALPINE_VERSION"]
    assert d.arg_defaults() == {
        "BASE_IMAGE": "alpine",
        "ALPINE_VERSION": "3.21.3",
        "HELM_VERSION": "3.17.2",
    }
    fetch, final = d.stages
    assert (fetch.name, fetch.platform, fetch.line) == ("fetch", "$BUILDPLATFORM", 5)
    assert d.base_image() == "alpine:3.21.3"
    assert d.base_image({"ALPINE_VERSION": "3.22.1"}) == "alpine:3.22.1"
    assert d.base_image({"BASE_IMAGE": "mirror.local/alpine"}) == "mirror.local/alpine:3.21.3"
    assert final.copy_from == ("fetch", "docker.io/bitnami/kubectl:1.32")
    assert final.labels == {
        "org.opencontainers.image.description": "Helm, kubectl and git",
        "maintainer": "platform",
    }
    assert (final.user, final.workdir) == ("1000:1000", "/workspace")
    assert d.external_images() == ("alpine:3.21.3", "docker.io/bitnami/kubectl:1.32")


def test_final_stage_from_earlier_stage_follows_to_external_base() -> None:
    d = parse(P, "FROM node:22-bookworm-slim AS base\nRUN x\nFROM base AS build\nFROM build\n")
    assert d.base_image() == "node:22-bookworm-slim"
    assert d.external_images() == ("node:22-bookworm-slim",)


def test_digest_pinned_and_arg_composed_references() -> None:
    digest = "sha256:" + "c" * 64
    d = parse(
        P,
        f"ARG REF=rust:slim-bookworm@{digest}\nARG TAG=1\nFROM $REF\n"
        "FROM scratch\nCOPY --from=${REF} /a /a\n",
    )
    assert d.base_image(stage=d.stages[0]) == f"rust:slim-bookworm@{digest}"
    assert d.external_images() == (f"rust:slim-bookworm@{digest}",)
    assert d.base_image() == "scratch"


def test_arg_referring_to_arg_is_expanded_in_order() -> None:
    d = parse(P, "ARG V=3.21\nARG IMG=alpine:${V}\nFROM ${IMG}\n")
    assert d.base_image() == "alpine:3.21"
    assert d.base_image({"V": "3.22"}) == "alpine:3.22"
    assert d.base_image({"IMG": "busybox:1"}) == "busybox:1"


HEREDOC = """\
FROM alpine:3 AS a
RUN <<END
FROM evil:1
USER root
END
RUN apk add \\
# a comment inside a continuation
    git
USER app
"""


def test_heredoc_bodies_and_comments_are_not_instructions() -> None:
    d = parse(P, HEREDOC)
    assert len(d.stages) == 1
    assert d.final.user == "app"
    assert [i.keyword for i in d.instructions] == ["FROM", "RUN", "RUN", "USER"]
    assert d.instructions[2].value == "apk add git"


def test_backtick_escape_directive() -> None:
    d = parse(P, "# escape=`\nFROM mcr.microsoft.com/windows `\n  AS w\nUSER x\n")
    assert (d.final.base, d.final.name, d.escape) == ("mcr.microsoft.com/windows", "w", "`")


def test_directive_after_first_instruction_is_a_comment() -> None:
    d = parse(P, "FROM a\n# syntax=docker/dockerfile:1\n")
    assert d.syntax is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN echo\n", "1: RUN before the first FROM"),
        ("# just a comment\n", "no FROM"),
        ("FROM a\nFROM a b c d\n", "2: cannot parse FROM"),
        ('FROM a\nLABEL x="unterminated\n', "2: cannot parse"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse(P, text)


@pytest.mark.parametrize(
    ("text", "scope", "expected"),
    [
        ("$A/${B}", {"A": "x", "B": "y"}, "x/y"),
        ("${A:-def}", {}, "def"),
        ("${A:-def}", {"A": ""}, "def"),
        ("${A-def}", {"A": ""}, ""),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("${A:+alt}", {}, ""),
        ("${A+alt}", {"A": ""}, "alt"),
        ("${MISSING}", {}, ""),
        ("${A:-${B}}", {"B": "nested"}, "nested"),
    ],
)
def test_substitute(text: str, scope: dict[str, str], expected: str) -> None:
    assert substitute(text, scope) == expected


def test_dockerfile_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b'FROM scratch\nLABEL maintainer="Jos\xe9"\n')
    with pytest.raises(NotUtf8Error) as info:
        parse(path)
    assert info.value.message == f"{path}:2: not UTF-8 text (byte 0xe9 at column 22)"
    assert info.value.hint == "save the file as UTF-8"


def test_dockerfile_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").mkdir()
    with pytest.raises(NotAFileError) as info:
        parse(tmp_path / "Dockerfile")
    assert info.value.exit_code == 2
