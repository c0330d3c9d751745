"""Build secrets: the manifest entries, the ``--secret`` specs a build passes, and the refusals
made before anything builds (a required variable unset, the classic builder)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet import schema, secrets
from imagefleet.catalog import discover
from imagefleet.errors import ExitCode, SecretsNeedBuildKitError, SecretUnsetError
from imagefleet.git import GitState
from imagefleet.plan import ImagePlan, plan_images
from imagefleet.reference import parse_target
from imagefleet.settings import Settings
from imagefleet.tasks.build import secrets_ready

VALUE = "s3cr3t-value-never-shown"


def _secrets(**entries: dict[str, object]) -> dict[str, secrets.Secret]:
    return {
        name: schema.manifest({"secrets": {name: entry}}).secrets[name]
        for name, entry in entries.items()
    }


def _plans(root: Path, manifests: dict[str, str]) -> list[ImagePlan]:
    for name, manifest in manifests.items():
        directory = root / "images" / name
        directory.mkdir(parents=True)
        (directory / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
        (directory / "image.yml").write_text(manifest)
    catalog = discover(root / "images")
    settings = Settings(root=root, images_dir=root / "images", target=parse_target("docker.io/x"))
    git = GitState("a" * 40, False, "main", datetime(2026, 1, 2, tzinfo=UTC), None)
    return plan_images(list(catalog.images), settings, git)


NPM = "secrets:\n  npm_token:\n    env: FX_NPM_TOKEN\n"
SENTRY = "secrets:\n  sentry:\n    env: FX_SENTRY_TOKEN\n    optional: true\n"


def test_specs_name_id_and_variable_never_the_value() -> None:
    found = secrets.specs(
        _secrets(npm_token={"env": "NPM_TOKEN"}, apt_auth={"env": "APT_AUTH"}),
        {"NPM_TOKEN": VALUE, "APT_AUTH": VALUE},
    )
    assert found == ("id=apt_auth,env=APT_AUTH", "id=npm_token,env=NPM_TOKEN")  # sorted by id
    assert not any(VALUE in spec for spec in found)


def test_an_optional_secret_that_is_unset_is_not_passed() -> None:
    declared = _secrets(sentry={"env": "SENTRY", "optional": True}, npm={"env": "NPM"})
    assert secrets.specs(declared, {"NPM": VALUE}) == ("id=npm,env=NPM",)
    # An empty variable counts as unset: BuildKit would mount an empty file.
    assert secrets.specs(declared, {"NPM": VALUE, "SENTRY": ""}) == ("id=npm,env=NPM",)


@pytest.mark.parametrize(
    "entry",
    [
        {"env": "NPM_TOKEN", "optional": "yes"},  # strict: not coerced to a bool
        {"env": 12},
        {"env": "NPM-TOKEN"},
        {"env": "NPM_TOKEN", "value": "inline"},  # a value never lives in the manifest
        {},
    ],
)
def test_a_bad_entry_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        schema.manifest({"secrets": {"npm": entry}})


def test_require_names_every_unset_variable_with_its_images(tmp_path: Path) -> None:
    plans = _plans(tmp_path, {"fx-a": NPM, "fx-b": NPM + "  other:\n    env: FX_OTHER\n"})
    with pytest.raises(SecretUnsetError) as info:
        secrets.require(plans, {})
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert info.value.message == (
        "build secrets not set in the environment: "
        "FX_NPM_TOKEN (fx-a: npm_token; fx-b: npm_token), FX_OTHER (fx-b: other)"
    )
    assert "optional: true" in info.value.hint
    secrets.require(plans, {"FX_NPM_TOKEN": VALUE, "FX_OTHER": VALUE})  # all set: no refusal
    with pytest.raises(SecretUnsetError, match="FX_OTHER"):
        secrets.require(plans, {"FX_NPM_TOKEN": VALUE, "FX_OTHER": ""})


def test_require_lets_optional_secrets_be_unset(tmp_path: Path) -> None:
    secrets.require(_plans(tmp_path, {"fx-a": SENTRY, "fx-b": "description: none\n"}), {})


def test_the_classic_builder_is_refused_for_images_with_secrets(tmp_path: Path) -> None:
    plans = _plans(tmp_path, {"fx-a": NPM, "fx-b": SENTRY, "fx-c": "description: none\n"})
    with pytest.raises(SecretsNeedBuildKitError) as info:
        secrets.require_buildkit(plans, buildkit=False)
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert info.value.message.startswith("fx-a, fx-b: build secrets need BuildKit")
    secrets.require_buildkit(plans, buildkit=True)
    secrets.require_buildkit([p for p in plans if p.name == "fx-c"], buildkit=False)


def test_the_build_task_checks_the_builder_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = _plans(tmp_path, {"fx-a": NPM})
    monkeypatch.delenv("FX_NPM_TOKEN", raising=False)
    with pytest.raises(SecretsNeedBuildKitError):
        secrets_ready(plans, buildkit=False)
    with pytest.raises(SecretUnsetError):
        secrets_ready(plans)
    monkeypatch.setenv("FX_NPM_TOKEN", VALUE)
    secrets_ready(plans)
    secrets_ready([], buildkit=False)  # nothing to build: nothing to refuse


def test_the_request_carries_specs_read_when_the_build_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [plan] = _plans(tmp_path, {"fx-a": NPM + SENTRY.replace("secrets:\n", "")})
    monkeypatch.setenv("FX_NPM_TOKEN", VALUE)
    monkeypatch.delenv("FX_SENTRY_TOKEN", raising=False)
    request = plan.request()
    assert request.secrets == ("id=npm_token,env=FX_NPM_TOKEN",)
    assert VALUE not in repr(request)
    assert VALUE not in str(request.build_args)
    monkeypatch.setenv("FX_SENTRY_TOKEN", VALUE)
    assert plan.request().secrets == (
        "id=npm_token,env=FX_NPM_TOKEN",
        "id=sentry,env=FX_SENTRY_TOKEN",
    )


def test_the_plan_shows_ids_and_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [plan] = _plans(tmp_path, {"fx-a": NPM})
    monkeypatch.setenv("FX_NPM_TOKEN", VALUE)
    shown = plan.as_dict(tmp_path)
    assert shown["secrets"] == {"npm_token": {"env": "FX_NPM_TOKEN", "optional": False}}
    assert VALUE not in str(shown)
    [other] = _plans(tmp_path / "other", {"fx-b": "description: none\n"})
    assert "secrets" not in other.as_dict(tmp_path / "other")  # unchanged for other images
