"""Settings: one frozen object from Invoke's layered config, defaults in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from imagefleet.errors import InvalidReferenceError, UsageError
from imagefleet.settings import DEFAULTS, HelmSettings, Settings
from tests.helpers import REPO


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


def test_a_local_mode_and_builder_names_together_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid builder 'classic, nodes'") as caught:
        Settings.from_config({"root": str(tmp_path), "builder": ["classic", "nodes"]})
    assert "auto, buildx, classic" in caught.value.hint


@pytest.mark.parametrize(
    ("value", "local", "named"),
    [
        ("auto", "auto", ()),
        ("classic", "classic", ()),
        ("nodes", "auto", ("nodes",)),
        (["nodes", "more"], "auto", ("nodes", "more")),
        ("nodes, more,nodes", "auto", ("nodes", "more")),
        ([], "auto", ()),
    ],
)
def test_builder_takes_a_local_mode_or_builder_names(
    tmp_path: Path, value: object, local: str, named: tuple[str, ...]
) -> None:
    s = Settings.from_config({"root": str(tmp_path), "builder": value})
    assert (s.builder, s.builders) == (local, named)


def test_cache_is_none_or_registry(tmp_path: Path) -> None:
    assert Settings.from_config({"root": str(tmp_path)}).cache == "none"
    assert Settings.from_config({"root": str(tmp_path), "cache": "registry"}).cache == "registry"
    text = _refused(tmp_path, {"cache": "gha"})
    assert "fleet.cache 'gha'" in text
    assert "none or registry" in text


def test_sbom_generator_is_a_name_a_reference_or_empty(tmp_path: Path) -> None:
    def given(value: str) -> str:
        return Settings.from_config({"root": str(tmp_path), "sbom_generator": value}).sbom_generator

    assert Settings.from_config({"root": str(tmp_path)}).sbom_generator == "sbom-scanner"
    assert given("") == ""
    assert given(" my-scanner ") == "my-scanner"  # a fleet image: checked when a build uses it
    assert given("registry.example.com/tools/scanner:1") == "registry.example.com/tools/scanner:1"
    text = _refused(tmp_path, {"sbom_generator": "Registry.example.com/Bad Ref"})
    assert "fleet.sbom_generator" in text


def test_bad_registry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidReferenceError, match="no URL scheme"):
        Settings.from_config({"root": str(tmp_path), "registry": "https://ghcr.io/team"})


# -- validated once: types, ranges, references, paths, unknown keys --------------------------------


def _refused(tmp_path: Path, fleet: dict[str, object], env: dict[str, str] | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        Settings.from_config({"root": str(tmp_path), **fleet}, environ=env)
    assert caught.value.exit_code == 2
    assert caught.value.hint
    return f"{caught.value.message}\n{caught.value.hint}"


@pytest.mark.parametrize(
    ("fleet", "needles"),
    [
        ({"push": {"attempts": -3}}, ("fleet.push.attempts -3", "must be at least 1")),
        ({"push": {"attempts": 0}}, ("fleet.push.attempts 0", "1 or more")),
        ({"push": {"attempts": "abc"}}, ("fleet.push.attempts 'abc'", "not a whole number")),
        ({"push": {"attempts": 2.5}}, ("fleet.push.attempts 2.5", "not a whole number")),
        ({"push": {"attempts": True}}, ("fleet.push.attempts True", "not a boolean")),
        ({"push": {"max_wait": -5}}, ("fleet.push.max_wait -5", "more than 0")),
        ({"push": {"max_wait": 0}}, ("fleet.push.max_wait 0", "more than 0")),
        ({"push": {"max_wait": "soon"}}, ("fleet.push.max_wait 'soon'", "not a number")),
        ({"push": 3}, ("fleet.push 3", "not a mapping")),
        ({"local_registry": {"port": -1}}, ("fleet.local_registry.port -1", "1 to 65535")),
        ({"local_registry": {"port": 0}}, ("fleet.local_registry.port 0", "at least 1")),
        ({"local_registry": {"port": 65536}}, ("fleet.local_registry.port", "at most 65535")),
        ({"local_registry": {"state_dir": ""}}, ("fleet.local_registry.state_dir", "empty")),
        ({"local_registry": {"state_dir": "../out"}}, ("outside the repository",)),
        ({"helm": {"history_max": -1}}, ("fleet.helm.history_max -1", "0 or more")),
        ({"helm": {"lock_wait": -0.5}}, ("fleet.helm.lock_wait -0.5", "at least 0")),
        ({"helm": {"binary": ""}}, ("fleet.helm.binary", "must not be empty")),
        ({"helm": {"image_keys": {"tag": ""}}}, ("fleet.helm.image_keys.tag",)),
        ({"helm": {"deploy_image": "Not A Ref"}}, ("fleet.helm.deploy_image", "invalid image")),
        ({"images_dir": "../elsewhere"}, ("fleet.images_dir", "outside the repository")),
        ({"images_dir": "/etc"}, ("fleet.images_dir '/etc'", "outside the repository")),
        ({"images_dir": 5}, ("fleet.images_dir 5", "not text")),
        ({"default_branch": ""}, ("fleet.default_branch", "must not be empty")),
        ({"platforms": ["amd64"]}, ("fleet.platforms 'amd64'", "os/arch[/variant]")),
        ({"platforms": ["linux/amd46"]}, ("architecture 'amd46' is not known", "amd64")),
        ({"platforms": ["lnux/amd64"]}, ("OS 'lnux' is not known", "linux")),
        ({"platforms": ["linux/arm/v9"]}, ("arm variant 'v9' is not known", "v7")),
        ({"platforms": "linux/amd64,bogus"}, ("fleet.platforms 'bogus'",)),
        ({"platforms": 7}, ("fleet.platforms 7", "not a list")),
        ({"registry": "https://ghcr.io/team"}, ("fleet.registry", "no URL scheme")),
        ({"registry": "ghcr.io/Team"}, ("fleet.registry", "HOST[:PORT]/NAMESPACE")),
        ({"registry_aliases": ["ghcr.io/ok", "http://x/y"]}, ("fleet.registry_aliases",)),
        ({"builder": "pod man"}, ("invalid builder 'pod man' in fleet.builder", "buildx")),
        ({"builder": ["auto", "classic"]}, ("invalid builder 'auto, classic'", "not both")),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    tmp_path: Path, fleet: dict[str, object], needles: tuple[str, ...]
) -> None:
    text = _refused(tmp_path, fleet)
    assert "(from invoke.yaml)" in text
    for needle in needles:
        assert needle in text


@pytest.mark.parametrize(
    ("fleet", "unknown", "close"),
    [
        ({"platfroms": []}, "fleet.platfroms", "did you mean fleet.platforms?"),
        ({"push": {"atempts": 2}}, "fleet.push.atempts", "did you mean fleet.push.attempts?"),
        ({"helm": {"image_keys": {"tags": "x"}}}, "fleet.helm.image_keys.tags", "image_keys.tag?"),
        ({"push": {"xyzzy": 1}}, "fleet.push.xyzzy", "the settings there are: attempts, max_wait"),
    ],
)
def test_unknown_settings_name_the_closest_key(
    tmp_path: Path, fleet: dict[str, object], unknown: str, close: str
) -> None:
    text = _refused(tmp_path, fleet)
    assert f"unknown setting {unknown} (in invoke.yaml)" in text
    assert close in text


@pytest.mark.parametrize(
    ("variable", "fleet", "needle"),
    [
        ("INVOKE_FLEET_PUSH_ATTEMPTS", {"push": {"attempts": "abc"}}, "not a whole number"),
        ("INVOKE_FLEET_PUSH_MAX_WAIT", {"push": {"max_wait": "-5"}}, "more than 0"),
        ("INVOKE_FLEET_LOCAL_REGISTRY_PORT", {"local_registry": {"port": "99999"}}, "65535"),
        ("INVOKE_FLEET_PLATFORMS", {"platforms": "linux/amd64,windows/arm/v3"}, "variant"),
        ("INVOKE_FLEET_REGISTRY", {"registry": "http://x.io/y"}, "no URL scheme"),
        ("INVOKE_FLEET_BUILDER", {"builder": "auto,kaniko"}, "invalid builder 'auto, kaniko'"),
    ],
)
def test_values_from_the_environment_name_their_variable(
    tmp_path: Path, variable: str, fleet: dict[str, object], needle: str
) -> None:
    text = _refused(tmp_path, fleet, env={variable: "whatever"})
    assert f"(from ${variable})" in text
    assert needle in text


def test_environment_strings_are_cast_and_lists_comma_separated(tmp_path: Path) -> None:
    # What Invoke hands over for INVOKE_FLEET_* variables: text, never cast.
    s = Settings.from_config(
        {
            "root": str(tmp_path),
            "platforms": "linux/amd64, linux/arm64/v8,,",
            "registry_aliases": "ghcr.io/a,quay.io/b",
            "global_paths": "",
            "notify": {"urls": "json://a.example/x"},
            "push": {"attempts": "3", "max_wait": "0.5"},
            "local_registry": {"port": "5999"},
            "helm": {"history_max": "0", "lock_wait": "0"},
        }
    )
    assert s.platforms == ("linux/amd64", "linux/arm64/v8")
    assert [str(a) for a in s.aliases] == ["ghcr.io/a", "quay.io/b"]
    assert s.global_paths == ()
    assert s.notify_urls == ("json://a.example/x",)
    assert (s.push_attempts, s.push_max_wait, s.local_registry_port) == (3, 0.5, 5999)
    assert (s.helm.history_max, s.helm.lock_wait) == (0, 0.0)


def test_empty_yaml_keys_keep_their_defaults(tmp_path: Path) -> None:
    # `registry_aliases:` with nothing after it is None in YAML: an empty list, as before.
    s = Settings.from_config(
        {"root": str(tmp_path), "registry_aliases": None, "push": None, "helm": None}
    )
    assert s.aliases == ()
    assert s.push_attempts == DEFAULTS["push"]["attempts"]
    assert s.helm == HelmSettings()


def test_paths_inside_the_repository(tmp_path: Path) -> None:
    s = Settings.from_config(
        {"root": str(tmp_path), "images_dir": "src/images", "local_registry": {"state_dir": "x/.."}}
    )
    assert s.images_dir == tmp_path.resolve() / "src" / "images"
    assert s.local_registry_dir == tmp_path.resolve() / "x/.."


def test_the_settings_page_lists_every_setting() -> None:
    from pydantic import BaseModel

    from imagefleet.config import FleetConfig

    page = (REPO / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")

    def names(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, info in model.model_fields.items():
            sub = info.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                found += names(sub, f"{prefix}{name}.")
            else:
                found.append(f"{prefix}{name}")
        return found

    for name in names(FleetConfig, "fleet."):
        assert f"`{name}`" in page, name
