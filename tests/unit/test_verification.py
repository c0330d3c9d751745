"""``invoke verify``: the report read back from a registry, fleet.require, and the task itself
(against a registry in memory served on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagefleet import verification
from imagefleet.errors import RequirementsMissingError, TagNotInRegistryError
from imagefleet.reference import parse_target
from tests.fakeregistry import DOMAIN, FakeRegistry, push_image, served
from tests.helpers import invoke, make_project

TARGET = parse_target(f"{DOMAIN}/fx")


def test_the_report_of_a_two_platform_index() -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "v1", sbom_packages=3, args={"GREETING": "hi"})
    report = verification.read(fake.client(), TARGET, "app", "v1")
    assert report.reference == f"{DOMAIN}/fx/app:v1"
    assert report.digest == digest
    assert [p.platform for p in report.platforms] == ["linux/amd64", "linux/arm64"]
    amd = report.as_dict()["platforms"][0]
    assert amd["labels"] == {"org.opencontainers.image.revision": "0123456", "arch": "amd64"}
    assert amd["provenance"]["build_args"] == {"GREETING": "hi"}
    assert amd["sbom"] == {"format": "SPDX-2.3", "packages": 3, "documents": 1}
    assert amd["config_digest"].startswith("sha256:")
    assert verification.missing(report, ["provenance", "sbom", "platforms"], ["linux/amd64"]) == []


def test_a_single_manifest_image_is_one_platform_without_attestations() -> None:
    fake = FakeRegistry()
    push_image(fake, "multi", provenance=False)
    config = {"mediaType": "application/vnd.oci.image.config.v1+json"}
    config |= fake.blob({"architecture": "amd64", "os": "linux", "config": {"Labels": {"a": "b"}}})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    one = fake.manifest({**manifest, "config": config, "layers": []}, tag="v1")
    report = verification.read(fake.client(), TARGET, "app", "v1")
    assert report.digest == one["digest"]
    assert [(p.platform, p.digest, p.labels) for p in report.platforms] == [
        ("linux/amd64", one["digest"], {"a": "b"})
    ]
    assert verification.missing(report, ["provenance", "sbom"], []) == [
        "provenance (linux/amd64)",
        "sbom (linux/amd64)",
    ]


def test_a_digest_reads_as_well_as_a_tag() -> None:
    fake = FakeRegistry()
    digest = push_image(fake, "v1")
    report = verification.read(fake.client(), TARGET, "app", digest)
    assert report.reference == f"{DOMAIN}/fx/app@{digest}"


def test_a_tag_the_registry_lacks_is_bad_input() -> None:
    with pytest.raises(TagNotInRegistryError) as raised:
        verification.read(FakeRegistry().client(), TARGET, "app", "nope")
    assert raised.value.exit_code == 2
    assert raised.value.message == f"{DOMAIN}/fx/app:nope is not in the registry"


def test_requirements_name_what_is_missing_and_where() -> None:
    fake = FakeRegistry()
    push_image(fake, "v1", architectures=("amd64",))
    report = verification.read(fake.client(), TARGET, "app", "v1")
    expected = ["linux/amd64", "linux/arm64/v8"]
    assert verification.missing(report, ["provenance"], expected) == []
    assert verification.missing(report, ["sbom", "platforms"], expected) == [
        "sbom (linux/amd64)",
        "platforms (linux/arm64/v8 not in the index)",
    ]
    with pytest.raises(RequirementsMissingError) as raised:
        verification.check(report, ["sbom"], expected)
    assert raised.value.exit_code == 6
    assert (
        raised.value.message
        == f"{DOMAIN}/fx/app:v1 lacks what fleet.require asks for: sbom (linux/amd64)"
    )
    verification.check(report, [], expected)  # nothing required: a report only


def test_arm64_and_its_default_variant_are_one_platform() -> None:
    fake = FakeRegistry()
    push_image(fake, "v1", architectures=("arm64",))
    report = verification.read(fake.client(), TARGET, "app", "v1")
    assert verification.missing(report, ["platforms"], ["linux/arm64/v8"]) == []


# -- the task ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"), with_busybox=False)


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with served() as fake:
        yield fake


def _verify(
    project: Path, fake: FakeRegistry, *args: str, require: str = ""
) -> tuple[int, str, str]:
    env = {"INVOKE_FLEET_REQUIRE": require, "INVOKE_FLEET_PUSH_ATTEMPTS": "1"}
    done = invoke(
        project, "verify", "--image", "fx-hello", "--registry", f"{fake.domain}/fx", *args, env=env
    )
    return done.code, done.stdout, done.stderr


def test_verify_prints_the_report(project: Path, registry: FakeRegistry) -> None:
    push_image(registry, "v1", sbom_packages=4, args={"GREETING": "[red]hi[/]"})
    code, out, err = _verify(project, registry, "--tag", "v1", require="provenance,sbom")
    assert code == 0, err
    for needle in ("linux/amd64", "linux/arm64", "GREETING=[red]hi[/]", "SPDX-2.3, 4 packages"):
        assert needle in out
    assert "all present" in out
    assert "pkg:docker/alpine@3.22.5" in out


def test_verify_json_and_a_missing_requirement(project: Path, registry: FakeRegistry) -> None:
    digest = push_image(registry, "v1")
    code, out, err = _verify(project, registry, "--tag", "v1", "--json", require="sbom")
    assert code == 6, err
    body = json.loads(out)
    assert body["error"]["code"] == 6
    assert "sbom (linux/amd64, linux/arm64)" in body["error"]["message"]
    assert body["digest"] == digest
    assert body["required"] == ["sbom"]
    assert body["missing"] == ["sbom (linux/amd64, linux/arm64)"]
    assert [p["platform"] for p in body["platforms"]] == ["linux/amd64", "linux/arm64"]
    assert "error: " in err
    assert "hint: " in err


def test_verify_json_success(project: Path, registry: FakeRegistry) -> None:
    push_image(registry, "v1", sbom_packages=1)
    code, out, err = _verify(project, registry, "--tag", "v1", "--json", require="provenance,sbom")
    assert code == 0, err
    body = json.loads(out)
    assert body["missing"] == []
    assert (
        body["platforms"][1]["provenance"]["predicate_type"] == "https://slsa.dev/provenance/v0.2"
    )


def test_verify_refuses_cleanly(project: Path, registry: FakeRegistry) -> None:
    code, _, err = _verify(project, registry, "--tag", "nope")
    assert code == 2
    assert "is not in the registry" in err
    assert "Traceback" not in err
    done = invoke(project, "verify", "--image", "fx-helo", "--registry", f"{registry.domain}/fx")
    assert done.code == 2
    assert "unknown image 'fx-helo'" in done.stderr
    code, _, err = _verify(project, registry, "--tag", "v1", require="signatures")
    assert code == 2
    assert "fleet.require" in err
    assert "INVOKE_FLEET_REQUIRE" in err


def test_verify_of_an_unreachable_registry(project: Path) -> None:
    from imagefleet.localregistry import free_port

    env = {"INVOKE_FLEET_PUSH_ATTEMPTS": "1"}
    done = invoke(
        project,
        "verify",
        "--image",
        "fx-hello",
        "--registry",
        f"127.0.0.1:{free_port()}/fx",
        "--tag",
        "v1",
        env=env,
    )
    assert done.code == 5, done.stderr
    assert "refused the connection" in done.stderr
