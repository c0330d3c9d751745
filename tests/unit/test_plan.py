from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet.catalog import discover
from imagefleet.errors import UsageError
from imagefleet.git import GitState
from imagefleet.plan import parse_build_args, parse_platforms, plan_images
from imagefleet.reference import parse_target
from imagefleet.settings import Settings

SHA = "fedcba9876543210fedcba9876543210fedcba98"
COMMITTED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    image = tmp_path / "images" / "app"
    image.mkdir(parents=True)
    (image / "Dockerfile").write_text(
        "ARG BASE=alpine\nARG ALPINE_VERSION=3.21.3\nFROM ${BASE}:${ALPINE_VERSION}\n"
        "ARG TOOL_VERSION=1.0.0\nARG EXTRA=${TOOL_VERSION}-x\nARG FROM_DOCKERFILE=d\n"
    )
    (image / "image.yml").write_text(
        "description: app\nversion: 3.1.4\nowner: team-a\n"
        "build_args:\n  TOOL_VERSION: 2.0.0\n  ALPINE_VERSION: 3.22.1\n"
    )
    other = tmp_path / "images" / "other"
    other.mkdir()
    (other / "Dockerfile").write_text("FROM scratch\n")
    return tmp_path


def _settings(root: Path, **kw: object) -> Settings:
    return Settings(root=root, images_dir=root / "images", target=parse_target("docker.io/x"), **kw)  # type: ignore[arg-type]


def _git(dirty: bool = False) -> GitState:
    return GitState(
        sha=SHA,
        dirty=dirty,
        branch="main",
        committed_at=COMMITTED,
        origin="https://example.invalid/org/images",
    )


def test_build_arg_precedence_dockerfile_manifest_cli(project: Path) -> None:
    catalog = discover(project / "images")
    [p] = plan_images(
        [catalog.get("app")], _settings(project), _git(), cli_args={"ALPINE_VERSION": "3.20.0"}
    )
    assert p.build_args == {
        "BASE": "alpine",
        "ALPINE_VERSION": "3.20.0",
        "TOOL_VERSION": "2.0.0",
        "EXTRA": "2.0.0-x",
        "FROM_DOCKERFILE": "d",
    }
    assert p.arg_sources == {
        "BASE": "dockerfile",
        "ALPINE_VERSION": "command line",
        "TOOL_VERSION": "manifest",
        "EXTRA": "dockerfile",
        "FROM_DOCKERFILE": "dockerfile",
    }
    # Only overrides are passed to the builder: defaults that refer to other ARGs stay live.
    assert p.request().build_args == {"TOOL_VERSION": "2.0.0", "ALPINE_VERSION": "3.20.0"}
    assert p.base == "alpine:3.20.0"


def test_labels(project: Path) -> None:
    catalog = discover(project / "images")
    [p] = plan_images([catalog.get("app")], _settings(project), _git())
    oci = "org.opencontainers.image"
    assert p.labels == {
        f"{oci}.title": "app",
        f"{oci}.description": "app",
        f"{oci}.revision": SHA,
        f"{oci}.created": "2026-03-04T05:06:07Z",
        f"{oci}.version": "3.1.4",
        f"{oci}.base.name": "alpine:3.22.1",
        f"{oci}.source": "https://example.invalid/org/images",
        f"{oci}.vendor": "team-a",
    }
    assert p.local_ref == f"app:{SHA}"
    assert p.request().tags == (f"app:{SHA}",)


def test_dirty_tree_labels_use_commit_time_and_marker(project: Path) -> None:
    catalog = discover(project / "images")
    [p] = plan_images([catalog.get("app")], _settings(project), _git(dirty=True))
    assert p.labels["org.opencontainers.image.version"] == f"{SHA}-dirty"
    # Never the wall clock: a rebuild of unchanged content must not differ by its label.
    assert p.labels["org.opencontainers.image.created"] == "2026-03-04T05:06:07Z"
    assert p.local_ref == f"app:{SHA}-dirty"


def test_source_setting_wins_over_origin(project: Path) -> None:
    catalog = discover(project / "images")
    [p] = plan_images(
        [catalog.get("app")], _settings(project, source_url="https://src.invalid/x"), _git()
    )
    assert p.labels["org.opencontainers.image.source"] == "https://src.invalid/x"


def test_no_source_label_without_a_web_remote(project: Path) -> None:
    # A checkout whose origin is a local path (or that has none) gets no source label at all.
    catalog = discover(project / "images")
    git = dataclasses.replace(_git(), origin=None)
    [p] = plan_images([catalog.get("app")], _settings(project), git)
    assert "org.opencontainers.image.source" not in p.labels
    assert p.labels["org.opencontainers.image.revision"] == SHA


def test_cli_arg_goes_only_to_images_that_declare_it(project: Path) -> None:
    catalog = discover(project / "images")
    app, other = plan_images(
        catalog.images, _settings(project), _git(), cli_args={"TOOL_VERSION": "9"}
    )
    assert app.build_args["TOOL_VERSION"] == "9"
    assert other.request().build_args == {}


def test_undeclared_cli_arg_is_a_typo(project: Path) -> None:
    catalog = discover(project / "images")
    with pytest.raises(UsageError, match="TOOL_VERSON is not declared by app"):
        plan_images([catalog.get("app")], _settings(project), _git(), cli_args={"TOOL_VERSON": "9"})


def test_platform_precedence(project: Path) -> None:
    catalog = discover(project / "images")
    settings = _settings(project, platforms=("linux/amd64",))
    [p] = plan_images([catalog.get("app")], settings, _git())
    assert p.platforms == ("linux/amd64",)
    [q] = plan_images([catalog.get("app")], settings, _git(), platforms=("linux/arm64",))
    assert q.platforms == ("linux/arm64",)


def test_plan_as_dict_is_json_ready(project: Path) -> None:
    import json

    catalog = discover(project / "images")
    [p] = plan_images([catalog.get("app")], _settings(project), _git())
    data = json.loads(json.dumps(p.as_dict(project)))
    assert data["directory"] == "images/app"
    assert data["tags"][-1] == "latest"


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["A=1", "B=", "C=x=y"], {"A": "1", "B": "", "C": "x=y"}), ([], {})],
)
def test_parse_build_args(values: list[str], expected: dict[str, str]) -> None:
    assert parse_build_args(values) == expected


@pytest.mark.parametrize("value", ["NOEQUALS", "=x", "1A=x", "A-B=x"])
def test_bad_build_args(value: str) -> None:
    with pytest.raises(UsageError, match="invalid --build-arg"):
        parse_build_args([value])


def test_parse_platforms() -> None:
    assert parse_platforms(["linux/amd64,linux/arm64", "linux/amd64"]) == (
        "linux/amd64",
        "linux/arm64",
    )
    with pytest.raises(UsageError, match="invalid platform"):
        parse_platforms(["amd64"])


class _Daemon:
    def __init__(self, multi: bool) -> None:
        self.multi = multi

    def supports_multi_platform(self) -> bool:
        return self.multi


def test_manifest_platforms_narrow_on_a_classic_image_store(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagefleet.tasks.build import native_if_needed

    (project / "images" / "app" / "image.yml").write_text("platforms: [linux/amd64, linux/arm64]\n")
    catalog = discover(project / "images")
    plans = plan_images(catalog.images, _settings(project), _git())
    narrowed = native_if_needed(_Daemon(multi=False), plans)  # type: ignore[arg-type]
    assert [p.platforms for p in narrowed] == [(), ()]
    assert "app lists linux/amd64, linux/arm64" in capsys.readouterr().err
    kept = native_if_needed(_Daemon(multi=True), plans)  # type: ignore[arg-type]
    assert kept[0].platforms == ("linux/amd64", "linux/arm64")


@pytest.mark.parametrize(
    "platform", ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64", "linux/s390x"]
)
def test_known_platforms(platform: str) -> None:
    assert parse_platforms([platform]) == (platform,)


@pytest.mark.parametrize(
    ("platform", "needle"),
    [
        ("linux/amd46", "architecture 'amd46'"),
        ("lnux/amd64", "OS 'lnux'"),
        ("linux/arm/v9", "arm variant 'v9'"),
        ("linux/s390x/v1", "s390x variant 'v1'"),
    ],
)
def test_unknown_platforms_are_refused(platform: str, needle: str) -> None:
    with pytest.raises(UsageError, match=f"unknown platform '{platform}': {needle}"):
        parse_platforms([platform])
