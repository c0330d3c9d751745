"""Settings: one frozen object from Invoke's layered config, defaults in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from imagefleet.errors import InvalidReferenceError, UsageError
from imagefleet.settings import DEFAULTS, HelmSettings, Settings


def test_defaults_alone(tmp_path: Path) -> None:
    s = Settings.from_config({"root": str(tmp_path)})
    assert s.root == tmp_path.resolve()
    assert s.images_dir == tmp_path.resolve() / "images"
    assert str(s.target) == DEFAULTS["registry"]
    assert s.builder == "auto"
    assert (s.push_attempts, s.push_max_wait) == (5, 8.0)
    assert s.local_registry_dir == tmp_path.resolve() / ".fleet" / "registry"
    assert s.helm == HelmSettings()
    assert s.notify_urls == ()


def test_dataclass_defaults_are_the_config_defaults() -> None:
    # One home: the dataclasses read their defaults from DEFAULTS, so the two cannot drift.
    helm = DEFAULTS["helm"]
    assert HelmSettings() == HelmSettings(
        binary=helm["binary"],
        image_repository_key=helm["image_keys"]["repository"],
        image_tag_key=helm["image_keys"]["tag"],
        timeout=helm["timeout"],
        history_max=helm["history_max"],
        lock_wait=helm["lock_wait"],
        kubernetes_version=helm["kubernetes_version"],
        deploy_image=helm["deploy_image"],
    )
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert fields["push_attempts"] == DEFAULTS["push"]["attempts"]
    assert fields["push_max_wait"] == DEFAULTS["push"]["max_wait"]
    assert fields["local_registry_port"] == DEFAULTS["local_registry"]["port"]
    assert fields["default_branch"] == DEFAULTS["default_branch"]


def test_nested_sections_merge_over_defaults(tmp_path: Path) -> None:
    s = Settings.from_config(
        {
            "root": str(tmp_path),
            "registry": "localhost:5000/team",
            "registry_aliases": ["ghcr.io/team"],
            "platforms": ["linux/amd64"],
            "push": {"attempts": 2},
            "notify": {"urls": ["json://hooks.example.com/fleet"]},
            "local_registry": {"state_dir": "/srv/fleet/reg"},
            "helm": {"binary": "helm3", "image_keys": {"tag": "app.tag"}},
        }
    )
    assert [str(t) for t in s.targets] == ["localhost:5000/team", "ghcr.io/team"]
    assert s.platforms == ("linux/amd64",)
    assert (s.push_attempts, s.push_max_wait) == (2, 8.0)  # max_wait kept its default
    assert s.local_registry_dir == Path("/srv/fleet/reg")  # absolute paths stay as written
    assert s.helm.binary == "helm3"
    assert s.notify_urls == ("json://hooks.example.com/fleet",)
    assert (s.helm.image_repository_key, s.helm.image_tag_key) == ("image.repository", "app.tag")


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = Settings.from_config({"root": str(tmp_path)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.builder = "classic"  # type: ignore[misc]


def test_unknown_builder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid builder 'podman'") as caught:
        Settings.from_config({"root": str(tmp_path), "builder": "podman"})
    assert "auto, buildx, classic" in caught.value.hint


def test_bad_registry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidReferenceError, match="no URL scheme"):
        Settings.from_config({"root": str(tmp_path), "registry": "https://ghcr.io/team"})
