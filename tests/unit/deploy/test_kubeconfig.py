"""Kubeconfig files: merged as kubectl does, a context chosen, flattened for the container."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagefleet.deploy.kubeconfig import flatten, load, paths
from imagefleet.errors import EnvironmentProblem, KubeconfigInvalidError, UsageError


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def config(
    context: str, cluster: dict[str, Any], user: dict[str, Any], current: bool = True
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        **({"current-context": context} if current else {}),
        "contexts": [
            {"name": context, "context": {"cluster": f"{context}-c", "user": f"{context}-u"}}
        ],
        "clusters": [{"name": f"{context}-c", "cluster": cluster}],
        "users": [{"name": f"{context}-u", "user": user}],
    }


@pytest.fixture
def two_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first = write(
        tmp_path / "a" / "config",
        config(
            "dev",
            {"server": "https://dev:6443", "certificate-authority": "ca.crt"},
            {"token": "t"},
            current=False,
        ),
    )
    second = write(
        tmp_path / "b" / "config",
        {
            **config("prod", {"server": "https://prod:6443"}, {"token": "p"}),
            # a second "dev" context: the first file's definition wins
            "contexts": [
                {"name": "prod", "context": {"cluster": "prod-c", "user": "prod-u"}},
                {"name": "dev", "context": {"cluster": "prod-c", "user": "prod-u"}},
            ],
        },
    )
    monkeypatch.setenv(
        "KUBECONFIG", f"{first}{os.pathsep}{tmp_path / 'absent'}{os.pathsep}{second}"
    )
    return first, second


def test_paths_come_from_kubeconfig_or_the_home_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"/a{os.pathsep}{os.pathsep}/b")
    assert paths() == [Path("/a"), Path("/b")]
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths() == [tmp_path / ".kube" / "config"]


def test_load_merges_files_first_definition_wins(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    merged = load()
    assert merged.current == "prod"  # the first file sets none
    assert sorted(merged.contexts) == ["dev", "prod"]
    assert merged.contexts["dev"] == {"cluster": "dev-c", "user": "dev-u"}
    assert merged.sources["contexts/dev"] == first
    assert merged.sources["clusters/prod-c"] == second


def test_context_choice(two_files: tuple[Path, Path]) -> None:
    merged = load()
    assert merged.context(None) == "prod"
    assert merged.context("dev") == "dev"
    with pytest.raises(UsageError, match="kube-context 'qa' is not in the kubeconfig") as caught:
        merged.context("qa")
    assert caught.value.hint == "known contexts: dev, prod"


def test_no_current_context_asks_for_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only = write(tmp_path / "config", config("dev", {"server": "s"}, {}, current=False))
    monkeypatch.setenv("KUBECONFIG", str(only))
    with pytest.raises(UsageError, match="no kube-context given"):
        load().context(None)


def test_missing_kubeconfig_is_an_environment_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(EnvironmentProblem, match=r"no kubeconfig found \(.*nope\)"):
        load()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("clusters: [\n", "line 2: "),  # not YAML: the line helps
        ("- just\n- a list\n", "expected a mapping, got list"),
        ("clusters: nope\n", "clusters must be a list of entries with a name"),
        ("contexts:\n  - name-only\n", "contexts must be a list of entries with a name"),
    ],
)
def test_malformed_kubeconfig_is_bad_input_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, reason: str
) -> None:
    bad = tmp_path / "config"
    bad.write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(bad))
    with pytest.raises(KubeconfigInvalidError) as caught:
        load()
    assert caught.value.message.startswith(f"{bad}: not a valid kubeconfig: {reason}")
    assert caught.value.exit_code == 2


def test_unreadable_kubeconfig_is_an_environment_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "config"
    bad.write_text("{}\n")
    monkeypatch.setenv("KUBECONFIG", str(bad))

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(EnvironmentProblem, match=f"cannot read kubeconfig {bad}$"):
        load()


def test_flatten_inlines_files_relative_to_their_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "kube"
    (home / "pki").mkdir(parents=True)
    (home / "pki" / "ca.crt").write_bytes(b"CA-BYTES")
    (home / "pki" / "me.crt").write_bytes(b"CERT-BYTES")
    (home / "pki" / "me.key").write_bytes(b"KEY-BYTES")
    (tmp_path / "token").write_text("sekret-token\n")
    source = write(
        home / "config",
        config(
            "dev",
            {"server": "https://dev:6443", "certificate-authority": "pki/ca.crt"},
            {
                "client-certificate": "pki/me.crt",
                "client-key": str(home / "pki" / "me.key"),  # absolute stays absolute
                "tokenFile": str(tmp_path / "token"),
            },
        ),
    )
    monkeypatch.setenv("KUBECONFIG", str(source))
    target = flatten(load(), "dev", tmp_path / "flat")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    data = yaml.safe_load(target.read_text())
    assert data["current-context"] == "dev"
    assert data["contexts"] == [{"name": "dev", "context": {"cluster": "dev-c", "user": "dev-u"}}]
    [cluster] = data["clusters"]
    assert cluster["cluster"] == {
        "server": "https://dev:6443",
        "certificate-authority-data": base64.b64encode(b"CA-BYTES").decode(),
    }
    [user] = data["users"]
    assert user["user"] == {
        "client-certificate-data": base64.b64encode(b"CERT-BYTES").decode(),
        "client-key-data": base64.b64encode(b"KEY-BYTES").decode(),
        "token": "sekret-token",
    }


def test_flatten_keeps_only_the_chosen_context(
    two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    data = yaml.safe_load(flatten(load(), "prod", tmp_path / "flat").read_text())
    assert [c["name"] for c in data["contexts"]] == ["prod"]
    assert data["clusters"] == [{"name": "prod-c", "cluster": {"server": "https://prod:6443"}}]
    assert data["users"] == [{"name": "prod-u", "user": {"token": "p"}}]


def test_flatten_with_a_missing_referenced_file(
    two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(
        EnvironmentProblem, match="a file the kube-context 'dev' refers to"
    ) as caught:
        flatten(load(), "dev", tmp_path / "flat")
    assert "ca.crt" not in caught.value.message  # names the context, not paths or contents
    assert not (tmp_path / "flat").exists()


def test_flatten_of_a_context_without_its_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = config("dev", {"server": "s"}, {})
    data["clusters"] = []
    monkeypatch.setenv("KUBECONFIG", str(write(tmp_path / "config", data)))
    with pytest.raises(UsageError, match="names a cluster that is not defined"):
        flatten(load(), "dev", tmp_path / "flat")
