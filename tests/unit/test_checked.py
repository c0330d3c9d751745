"""Settings and manifests checked before are taken from the cache, not checked again."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from imagefleet import catalog, checked, schema, secrets
from imagefleet.catalog import Manifest, load_manifest
from imagefleet.errors import ManifestFieldError, UsageError
from imagefleet.settings import Settings

REPO = Path(__file__).resolve().parents[2]
MANIFEST = 'description: an image\nversion: "1.2.3"\nsecrets:\n  npm:\n    env: NPM_TOKEN\n'


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield tmp_path / "cache" / "imagefleet" / "checked.pickle"
    checked._OPEN.clear()  # later tests open their own file


def _refuse_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("checked again")

    monkeypatch.setattr(schema, "manifest", refuse)
    monkeypatch.setattr(Settings, "_check", refuse)


def test_a_manifest_checked_once_is_taken_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "image.yml"
    path.write_text(MANIFEST, encoding="utf-8")
    first = load_manifest(path)
    assert first.secrets["npm"].env == "NPM_TOKEN"
    _refuse_to_check(monkeypatch)
    assert load_manifest(path) == first


def test_other_bytes_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "image.yml"
    path.write_text(MANIFEST, encoding="utf-8")
    load_manifest(path)
    path.write_text(MANIFEST.replace('"1.2.3"', '"1.2"'), encoding="utf-8")
    with pytest.raises(ManifestFieldError, match="semantic version"):
        load_manifest(path)


def test_a_refused_manifest_is_refused_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "image.yml"
    path.write_text("tags: [latest]\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ManifestFieldError, match="managed by the tag policy"):
            load_manifest(path)
    checked.records().save()
    checked._OPEN.clear()
    with pytest.raises(ManifestFieldError):
        load_manifest(path)


def test_records_outlive_the_process_and_a_broken_file_is_no_error(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "image.yml"
    path.write_text(MANIFEST, encoding="utf-8")
    first = load_manifest(path)
    checked.records().save()
    checked._OPEN.clear()  # as a new process would
    with monkeypatch.context() as patched:
        _refuse_to_check(patched)
        assert load_manifest(path) == first
    cache.write_bytes(b"not a pickle")
    checked._OPEN.clear()
    assert load_manifest(path) == first  # checked again


def test_a_changed_tool_checks_everything_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "image.yml"
    path.write_text(MANIFEST, encoding="utf-8")
    load_manifest(path)
    monkeypatch.setattr(checked, "_fingerprint", lambda: b"another version of the tool")
    assert checked.records().get("image.yml", MANIFEST.encode(), Manifest) is None


def test_the_records_kept_are_the_used_ones_and_the_newest_others(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checked, "SPARE", 2)
    records = checked.Checked(cache)
    for n in range(5):
        records.put("n", str(n).encode(), n)
    records.save()
    later = checked.Checked(cache)
    assert later.get("n", b"1", int) == 1  # used by this process
    later.put("n", b"5", 5)
    later.save()
    kept = checked.Checked(cache)
    assert [kept.get("n", str(n).encode(), int) for n in range(6)] == [None, 1, None, 3, 4, 5]


def test_settings_checked_once_are_taken_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"root": str(tmp_path), "push": {"attempts": "4"}}
    first = Settings.from_config(config)
    assert first.push_attempts == 4
    with monkeypatch.context() as patched:
        _refuse_to_check(patched)
        assert Settings.from_config(config) == first
    with pytest.raises(UsageError, match=r"push\.attempts"):
        Settings.from_config({**config, "push": {"attempts": "four"}})


def test_settings_without_a_root_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        assert Settings.from_config({}).root == tmp_path / name


def test_a_second_run_imports_no_pydantic(tmp_path: Path, cache: Path) -> None:
    images = tmp_path / "images"
    (images / "app").mkdir(parents=True)
    (images / "app" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (images / "app" / "image.yml").write_text(MANIFEST, encoding="utf-8")
    probe = (
        "import sys\n"
        "from imagefleet import catalog\n"
        "from imagefleet.settings import Settings\n"
        f"s = Settings.from_config({{'root': {str(tmp_path)!r}}})\n"
        "print(catalog.discover(s.images_dir).get('app').manifest.version)\n"
        "print(any(m.split('.')[0] == 'pydantic' for m in sys.modules))\n"
    )
    path = os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path, "XDG_CACHE_HOME": str(cache.parents[1])}
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
        )
        for _ in range(2)
    ]
    assert [r.stdout.split() for r in runs] == [["1.2.3", "True"], ["1.2.3", "False"]], runs


@pytest.mark.parametrize(
    ("record", "model"),
    [
        (catalog.Manifest, schema.ManifestModel),
        (catalog.Link, schema.LinkModel),
        (catalog.LocalContext, schema.LocalContextModel),
        (secrets.Secret, schema.SecretModel),
    ],
)
def test_every_record_has_the_fields_of_its_schema(record: type, model: type[BaseModel]) -> None:
    assert [f.name for f in dataclasses.fields(record)] == list(model.model_fields)


def test_an_empty_manifest_is_the_default_record() -> None:
    assert schema.manifest({}) == Manifest()


def test_a_tool_that_cannot_tell_its_version_remembers_nothing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checked, "_fingerprint", lambda: None)
    path = tmp_path / "image.yml"
    path.write_text(MANIFEST, encoding="utf-8")
    load_manifest(path)
    checked.records().save()
    assert not cache.exists()
