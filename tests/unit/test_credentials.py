"""Registry credentials from the environment, then Docker's config."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from imagefleet.credentials import Credentials, credentials_for


def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_REGISTRY_USERNAME", "ci-bot")
    monkeypatch.setenv("FLEET_REGISTRY_PASSWORD", "pw-from-env")
    assert credentials_for("ghcr.io") == Credentials("ci-bot", "pw-from-env")


def test_credentials_from_docker_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    auth = base64.b64encode(b"stored-user:stored-pass").decode()
    (config_dir / "config.json").write_text(
        json.dumps({"auths": {"registry.example.invalid": {"auth": auth}}})
    )
    monkeypatch.delenv("FLEET_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("FLEET_REGISTRY_PASSWORD", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    assert credentials_for("registry.example.invalid") == Credentials("stored-user", "stored-pass")
    assert credentials_for("other.example.invalid") is None
