"""The fleet policy: the real images pass; a Dockerfile breaking each rule is caught by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagefleet import policy
from imagefleet.reference import parse_target
from tests.helpers import REPO

TARGETS = (parse_target("docker.io/webgrip"),)

GOOD = """\
ARG BASE_IMAGE=alpine:3.21.3
FROM ${BASE_IMAGE}
# renovate: datasource=github-releases depName=helm/helm
ARG HELM_VERSION=4.3.0
RUN apk add --no-cache curl \\
    && curl -fsSLO "https://get.helm.sh/helm-v${HELM_VERSION}-linux-amd64.tar.gz" \\
    && curl -fsSLO "https://get.helm.sh/helm-v${HELM_VERSION}-linux-amd64.tar.gz.sha256sum" \\
    && sha256sum -c "helm-v${HELM_VERSION}-linux-amd64.tar.gz.sha256sum"
ENV HELM_CACHE_HOME=/tmp/helm
USER 10001
"""


def _image(
    root: Path,
    dockerfile: str = GOOD,
    *,
    manifest: str | None = None,
    readme: bool = True,
    structure: bool = True,
) -> Path:
    directory = root / "images" / "candidate"
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(dockerfile)
    if manifest is not None:
        (directory / "image.yml").write_text(manifest)
    if readme:
        (directory / "README.md").write_text("# candidate\n")
    if structure:
        (directory / "tests").mkdir()
        (directory / "tests" / "structure.yaml").write_text("schemaVersion: 2.0.0\n")
    return directory


def _rules(root: Path) -> list[str]:
    return [v.rule for v in policy.check(root / "images", TARGETS, root)]


def test_the_six_real_images_pass() -> None:
    violations = policy.check(REPO / "images", TARGETS, REPO)
    assert [str(v) for v in violations] == []
    assert len(list((REPO / "images").iterdir())) == 7


def test_a_compliant_candidate_passes(tmp_path: Path) -> None:
    _image(tmp_path)
    assert _rules(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "rule", "line"),
    [
        (lambda d: d.replace("alpine:3.21.3", "alpine"), "pinned-base", 2),
        (lambda d: d.replace("alpine:3.21.3", "alpine:latest"), "pinned-base", 2),
        (lambda d: d + "COPY --from=busybox /bin/busybox /bin/busybox\n", "pinned-base", 2),
        (lambda d: d.replace("HELM_VERSION=4.3.0", "HELM_VERSION=latest"), "pinned-versions", 4),
        (lambda d: d.replace("HELM_VERSION=4.3.0", "HELM_VERSION"), "pinned-versions", 4),
        (lambda d: d.replace("    && sha256sum -c", "    && ls"), "checksummed-downloads", 5),
        (lambda d: d + "ADD https://example.invalid/tool.tgz /tmp/\n", "checksummed-downloads", 11),
        (
            lambda d: d + "RUN curl -fsSL https://example.invalid/install.sh | sh\n",
            "no-pipe-to-shell",
            11,
        ),
        (lambda d: d.replace("USER 10001", "USER root"), "non-root", 2),
        (lambda d: d.replace("USER 10001\n", ""), "non-root", 2),
        (lambda d: d + "ARG GITHUB_TOKEN\n", "no-secrets", 11),
        (lambda d: d + "ENV NPM_AUTH_TOKEN=abc\n", "no-secrets", 11),
        (lambda d: d + 'LABEL org.opencontainers.image.title="x"\n', "labels-from-build", 11),
    ],
)
def test_each_rule_is_named(tmp_path: Path, change: object, rule: str, line: int) -> None:
    directory = _image(tmp_path, change(GOOD))  # type: ignore[operator]
    [violation] = policy.check(tmp_path / "images", TARGETS, tmp_path)
    assert violation.rule == rule
    assert (violation.path, violation.line) == ("images/candidate/Dockerfile", line)
    assert str(violation).startswith(f"images/candidate/Dockerfile:{line}: [{rule}] ")
    assert directory.name == violation.image


@pytest.mark.parametrize(
    "name",
    [
        *("GITHUB_TOKEN", "NPM_AUTH_TOKEN", "npm_token", "npmToken", "DB_PASSWORD", "DB_PASS"),
        *("MYSQL_PASSWD", "CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
        *("API_KEY", "apiKey", "APIKEY", "SSH_PRIVATE_KEY", "PRIVATE_KEY", "GIT_CREDENTIALS"),
        *("REGISTRY_CREDS", "BASIC_AUTH", "AUTH", "auth_token", "SIGNING_KEY", "GPG_PASSPHRASE"),
    ],
)
def test_secret_like_names(name: str) -> None:
    assert policy.looks_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        # Words that merely start like a secret word.
        *("TOKENIZER_VERSION", "AUTHOR", "AUTHORS", "PASSENGER_COUNT", "SECRETARY", "BYPASS"),
        # KEY alone is no secret (GPG_KEY is a public fingerprint), nor its host's name.
        *("GPG_KEY", "KEY", "KEYRING", "PRIMARY_KEY_COLUMN", "OAUTH_CLIENT_ID"),
        # Where or how a secret is found, not the secret: the `_FILE` convention, URLs, names.
        *("PASSWORD_FILE", "NPM_TOKEN_FILE", "AUTH_URL", "SECRET_NAME", "TOKEN_TYPE"),
        *("SSH_PRIVATE_KEY_PATH", "AUTH_METHOD"),
        # The six images' own.
        *("HELM_VERSION", "RUSTUP_HOME", "DOCKER_GID", "TARGETARCH", "BASE_IMAGE", "RUST_TARGETS"),
    ],
)
def test_names_that_only_look_alike(name: str) -> None:
    assert not policy.looks_secret(name)


def test_a_secret_arg_is_pointed_to_build_secrets(tmp_path: Path) -> None:
    _image(tmp_path, GOOD + "ARG NPM_TOKEN\nARG TOKENIZER_VERSION=1.2.0\n")
    [violation] = policy.check(tmp_path / "images", TARGETS, tmp_path)
    assert violation.rule == "no-secrets"
    assert violation.line == 11
    assert violation.message.startswith("ARG NPM_TOKEN looks like a secret")
    assert "`secrets:` in image.yml" in violation.message


def test_missing_files_and_bad_manifest(tmp_path: Path) -> None:
    _image(tmp_path, readme=False, structure=False)
    assert _rules(tmp_path) == ["structure-tests", "readme"]


def test_bad_manifest_is_a_violation(tmp_path: Path) -> None:
    _image(tmp_path, manifest="version: one\n")
    [violation] = policy.check(tmp_path / "images", TARGETS, tmp_path)
    assert violation.rule == "manifest"
    assert "version" in violation.message


def test_root_with_a_reason_is_allowed(tmp_path: Path) -> None:
    _image(
        tmp_path,
        GOOD.replace("USER 10001\n", "USER root\n"),
        manifest="runs_as_root: needs the Docker socket's root group on the host\n",
    )
    assert _rules(tmp_path) == []


def test_parents_in_the_repository_may_float(tmp_path: Path) -> None:
    _image(tmp_path, "FROM webgrip/base\nUSER 1\n")
    base = tmp_path / "images" / "base"
    base.mkdir()
    (base / "Dockerfile").write_text("FROM alpine:3.21.3\nUSER 1\n")
    (base / "README.md").write_text("x")
    (base / "tests").mkdir()
    (base / "tests" / "structure.yaml").write_text("schemaVersion: 2.0.0\n")
    assert _rules(tmp_path) == []


def test_sarif_run_shape(tmp_path: Path) -> None:
    _image(tmp_path, GOOD.replace("USER 10001", "USER root"))
    run = policy.sarif_run(policy.check(tmp_path / "images", TARGETS, tmp_path))
    [result] = run["results"]
    assert result["ruleId"] == "non-root"
    location = result["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "images/candidate/Dockerfile"},
        "region": {"startLine": 2},
    }
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == set(policy.RULES)


# -- the real images' pins: evidenced, and kept by digest ----------------------------------------


def test_renovate_pins_every_base_image_by_digest() -> None:
    """Configuration only (no digest can be fetched here); `renovate-config-validator` accepts
    it too. The dockerfile manager's rule covers every image and sets pinDigests."""
    import json

    config = json.loads((REPO / "renovate.json").read_text())
    [rule] = [r for r in config["packageRules"] if r.get("matchManagers") == ["dockerfile"]]
    assert rule["pinDigests"] is True
    assert rule["matchFileNames"] == ["images/*/Dockerfile"]
    assert "enabled" not in rule


@pytest.mark.parametrize("name", ["act-runner", "helm-deploy", "rust-releaser"])
def test_each_base_pin_says_where_its_evidence_comes_from(name: str) -> None:
    from imagefleet.catalog import discover

    image = discover(REPO / "images").get(name)
    base = image.build_args()["BASE_IMAGE"]
    readme = (REPO / "images" / name / "README.md").read_text()
    evidence = readme.split("## Pins and their evidence", 1)[1].split("\n## ", 1)[0]
    [row] = [line for line in evidence.splitlines() if line.startswith(f"| `{base}` |")]
    assert "checked 2026-11-30" in evidence
    assert re.search(r"\d{4}-\d{2}-\d{2}", row), row  # the date of the evidence itself
    assert '"Pins and their evidence"' in image.dockerfile_path.read_text()
