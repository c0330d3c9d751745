"""The schema of the fleet settings: merged over the defaults, sources, environment text."""

from __future__ import annotations

import pytest

from imagefleet import config
from imagefleet.errors import InvalidSettingError, UnknownSettingError, UnknownSettingNoMatchError
from imagefleet.settings import DEFAULTS


def test_merged_keeps_defaults_of_sections_not_given() -> None:
    data = config.merged(DEFAULTS, {"push": {"attempts": 2}, "helm": None, "extra": 1})
    assert data["push"] == {"attempts": 2, "max_wait": DEFAULTS["push"]["max_wait"]}
    assert data["helm"] == DEFAULTS["helm"]
    assert data["extra"] == 1  # kept, so that validation names it


@pytest.mark.parametrize(
    ("path", "environ", "expected"),
    [
        (("push", "attempts"), {"INVOKE_FLEET_PUSH_ATTEMPTS": "x"}, "$INVOKE_FLEET_PUSH_ATTEMPTS"),
        (("local_registry", "port"), {}, "invoke.yaml"),
        (("platforms",), None, "invoke.yaml"),
        (
            ("helm", "image_keys", "tag"),
            {"INVOKE_FLEET_HELM_IMAGE_KEYS_TAG": ""},
            "$INVOKE_FLEET_HELM_IMAGE_KEYS_TAG",
        ),
    ],
)
def test_source_names_the_variable_when_it_is_set(
    path: tuple[str, ...], environ: dict[str, str] | None, expected: str
) -> None:
    assert config.source(path, environ) == expected


@pytest.mark.parametrize(
    ("text", "items"),
    [("linux/amd64", ["linux/amd64"]), ("a, b,,c ", ["a", "b", "c"]), ("", []), (None, [])],
)
def test_list_settings_take_comma_separated_text(text: str | None, items: list[str]) -> None:
    data = config.merged(DEFAULTS, {"platforms": text})
    assert config.validate(data).platforms == items


def test_a_typed_error_per_kind() -> None:
    with pytest.raises(InvalidSettingError) as caught:
        config.validate(config.merged(DEFAULTS, {"push": {"max_wait": "0"}}), {})
    assert caught.value.fields["reason"] == "must be more than 0"
    with pytest.raises(UnknownSettingError):
        config.validate(config.merged(DEFAULTS, {"registy": "x"}))
    with pytest.raises(UnknownSettingNoMatchError):
        config.validate(config.merged(DEFAULTS, {"zzzzzz": "x"}))


def test_long_values_are_cut_short() -> None:
    assert config.shown("x" * 500).endswith("…")
    assert len(config.shown("x" * 500)) == 60


def test_every_setting_says_what_it_takes() -> None:
    def walk(model: type, prefix: tuple[str, ...]) -> None:
        for name, info in model.model_fields.items():  # type: ignore[attr-defined]
            assert info.description, (*prefix, name)
            sub = info.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                walk(sub, (*prefix, name))

    walk(config.FleetConfig, ())
