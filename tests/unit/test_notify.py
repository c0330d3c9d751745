"""Announcements of a push: the message, the step summary, redaction, and a real JSON webhook."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imagefleet import notify
from imagefleet.catalog import discover
from imagefleet.git import GitState
from imagefleet.notify import ImageFacts
from imagefleet.plan import ImagePlan, plan_images
from imagefleet.reference import parse_target
from imagefleet.registry import PushedTag
from imagefleet.settings import Settings
from tests.helpers import Receiver, webhook_receiver

SHA = "fedcba9876543210fedcba9876543210fedcba98"
DIGEST = "sha256:" + "a" * 64
TARGET = parse_target("ghcr.io/acme")


def _plan(tmp_path: Path, *, source: str | None, version: str | None = "1.4.2") -> ImagePlan:
    image = tmp_path / "images" / "app"
    image.mkdir(parents=True, exist_ok=True)
    (image / "Dockerfile").write_text("FROM alpine:3.22\n")
    (image / "image.yml").write_text(
        "description: app\nplatforms: [linux/amd64]\n"
        + (f"version: {version}\n" if version else "")
    )
    settings = Settings(
        root=tmp_path, images_dir=tmp_path / "images", target=TARGET, source_url=source
    )
    git = GitState(SHA, False, "main", datetime(2026, 1, 2, tzinfo=UTC))
    [plan] = plan_images([discover(tmp_path / "images").get("app")], settings, git)
    return plan


def _pushed(plan: ImagePlan, *extra: str) -> list[PushedTag]:
    repository = TARGET.repository(plan.name)
    return [PushedTag(f"{repository}:{t}", DIGEST, 0.1) for t in (*plan.tags.tags, *extra)]


def _announcement(tmp_path: Path, **kw: Any) -> notify.Announcement:
    plan = _plan(tmp_path, source="https://github.com/acme/images")
    facts = ImageFacts(("linux/amd64", "linux/arm64"), 52_400_000)
    return replace(notify.announce(plan, TARGET, _pushed(plan), facts), **kw)


# -- the announcement ----------------------------------------------------------------------------


def test_announcement_carries_every_field(tmp_path: Path) -> None:
    plan = _plan(tmp_path, source="https://github.com/acme/images")
    facts = ImageFacts(("linux/amd64", "linux/arm64"), 52_400_000)
    # The content-key tag is pushed too, but it is bookkeeping: not announced.
    a = notify.announce(plan, TARGET, _pushed(plan, "content-0123"), facts)
    assert a.as_dict() == {
        "image": "app",
        "repository": "ghcr.io/acme/app",
        "digest": DIGEST,
        "pull": f"ghcr.io/acme/app@{DIGEST}",
        "tags": [SHA, f"sha-{SHA[:12]}", "1.4.2", "1.4", "1", "latest"],
        "platforms": ["linux/amd64", "linux/arm64"],
        "size": 52_400_000,
        "commit": SHA,
        "version": "1.4.2",
        "registry_url": "https://ghcr.io/acme/app",
        "release_notes": "https://github.com/acme/images/releases/tag/app-v1.4.2",
    }


def test_without_a_version_the_commit_is_the_release_notes(tmp_path: Path) -> None:
    plan = _plan(tmp_path, source="https://github.com/acme/images/", version=None)
    a = notify.announce(plan, TARGET, _pushed(plan), None)
    assert a.version is None
    assert a.release_notes == f"https://github.com/acme/images/commit/{SHA}"
    # The registry could not say: the planned platforms, no size.
    assert (a.platforms, a.size) == (("linux/amd64",), None)


@pytest.mark.parametrize(
    ("source", "version", "expected"),
    [
        ("https://gitlab.example.com/acme/images", "2.0.0", "/-/tags/app-v2.0.0"),
        ("https://gitlab.example.com/acme/images", None, f"/-/commit/{SHA}"),
        ("https://codeberg.org/acme/images", "2.0.0", "/releases/tag/app-v2.0.0"),
    ],
)
def test_release_notes_links(source: str, version: str | None, expected: str) -> None:
    assert notify.release_notes_url(source, "app", version, SHA) == source + expected


@pytest.mark.parametrize("source", [None, "/home/me/images", "file:///srv/git/images"])
def test_no_link_without_a_web_source(source: str | None) -> None:
    assert notify.release_notes_url(source, "app", "1.0.0", SHA) is None


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("docker.io/webgrip", "https://hub.docker.com/r/webgrip/app"),
        ("docker.io/library", "https://hub.docker.com/_/app"),
        ("ghcr.io/acme", "https://ghcr.io/acme/app"),
        ("localhost:5000/team", "http://localhost:5000/team/app"),
    ],
)
def test_registry_url(registry: str, expected: str) -> None:
    assert notify.registry_url(parse_target(registry), "app") == expected


@pytest.mark.parametrize(
    ("size", "shown"),
    [(None, "-"), (512, "512 B"), (52_400_000, "52.4 MB"), (1_500_000_000, "1.5 GB")],
)
def test_human_size(size: int | None, shown: str) -> None:
    assert notify.human_size(size) == shown


# -- the step summary and the message ------------------------------------------------------------


def test_summary_is_one_table_row_per_image(tmp_path: Path) -> None:
    a = _announcement(tmp_path)
    b = replace(a, image="b|c", repository="ghcr.io/acme/b|c", release_notes=None, version=None)
    text = notify.summary([a, b])
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[0] == "| image | tags | digest | platforms | size | commit | release notes |"
    assert len(rows) == 4
    assert "[`ghcr.io/acme/app`](https://ghcr.io/acme/app)" in rows[2]
    assert "`1.4.2`" in rows[2]
    assert "linux/amd64, linux/arm64 | 52.4 MB" in rows[2]
    assert "[1.4.2](https://github.com/acme/images/releases/tag/app-v1.4.2)" in rows[2]
    assert "b\\|c" in rows[3]  # a pipe in a cell does not split the row
    assert rows[3].endswith("| - |")


def test_step_summary_is_appended_when_github_asks(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("### earlier step\n")
    a = _announcement(tmp_path)
    assert notify.write_step_summary([a], env={"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    text = summary.read_text()
    assert text.startswith("### earlier step\n### Images available")
    assert DIGEST in text
    assert notify.write_step_summary([a], env={}) is None


def test_an_unwritable_step_summary_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "missing" / "summary.md")}
    assert notify.write_step_summary([_announcement(tmp_path)], env=env) is None
    assert "could not write the step summary" in caplog.text


def test_message_for_people(tmp_path: Path) -> None:
    title, body = notify.message([_announcement(tmp_path)])
    assert title == "Available: app"
    assert f"**app** [ghcr.io/acme/app@{DIGEST}](https://ghcr.io/acme/app)" in body
    assert "release notes: https://github.com/acme/images/releases/tag/app-v1.4.2" in body


def test_targets_from_settings_and_environment(tmp_path: Path) -> None:
    settings = Settings(
        root=tmp_path,
        images_dir=tmp_path,
        target=TARGET,
        notify_urls=("json://hooks.example.com/a",),
    )
    env = {"FLEET_NOTIFY_URLS": " slack://T/B/C, json://hooks.example.com/a\nmailto://u:p@x.org "}
    assert notify.targets(settings, env) == (
        "json://hooks.example.com/a",
        "slack://T/B/C",
        "mailto://u:p@x.org",
    )
    assert notify.targets(settings, {}) == ("json://hooks.example.com/a",)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "json://user:s3cret@hooks.example.com:8443/path/tok3n?x=1",
            "json://hooks.example.com:8443",
        ),
        ("jsons://hooks.example.com/hooks/tok3n", "jsons://hooks.example.com"),
        ("json://127.0.0.1:9000/x", "json://127.0.0.1:9000"),
        ("json://[::1]:9000/x", "json://[::1]:9000"),
        ("mailto://user:pass@mail.example.org", "mailto://mail.example.org"),
        # Tokens where a host would be: nothing of them shown.
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnl4l3mx/#chan", "slack://…"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://…"),
        ("json://host:notaport/x", "json://…"),
        ("no scheme at all", "(not a URL)"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert notify.redact(url) == shown


# -- sending, to a real HTTP receiver ------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as started:
        yield started


def test_a_json_webhook_receives_the_fields(tmp_path: Path, receiver: Receiver) -> None:
    a = _announcement(tmp_path)
    url = f"json://127.0.0.1:{receiver.port}/hook"
    assert notify.send([url], [a]) == ([f"json://127.0.0.1:{receiver.port}"], [])
    [(path, body)] = receiver.got
    assert path == "/hook"
    # apprise's fixed envelope; the announcement is JSON in its message.
    assert body["title"] == "Available: app"
    assert body["type"] == "info"
    assert json.loads(body["message"]) == {"event": notify.EVENT, "images": [a.as_dict()]}


def test_a_failing_target_is_one_warning_without_credentials(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    good = f"json://127.0.0.1:{receiver.port}/ok"
    bad = f"json://robot:pa55word@127.0.0.1:{receiver.port}/s3cret-path"
    unknown = "nosuchservice://tok3n-value/x"
    with caplog.at_level(logging.WARNING):
        sent, failed = notify.send([bad, unknown, good], [_announcement(tmp_path)])
    # Every target was tried: one failure stops no other.
    assert [p for p, _ in receiver.got] == ["/s3cret-path", "/ok"]
    assert sent == []
    here = f"json://127.0.0.1:{receiver.port}"
    assert failed == [here, "nosuchservice://…", here]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert warnings[0].startswith(f"notification to {here} failed")
    for secret in ("robot", "pa55word", "s3cret", "tok3n"):
        assert secret not in caplog.text


def test_nothing_to_send_sends_nothing(tmp_path: Path) -> None:
    assert notify.send([], [_announcement(tmp_path)]) == ([], [])
    assert notify.send(["json://127.0.0.1:1/x"], []) == ([], [])


def test_the_push_task_announces_everywhere(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagefleet.tasks import publish

    plan = _plan(tmp_path, source="https://github.com/acme/images")
    facts = ImageFacts(("linux/amd64",), 1234)
    monkeypatch.setattr(notify, "read_facts", lambda *_: facts)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("FLEET_NOTIFY_URLS", f"json://127.0.0.1:{receiver.port}/hook")
    settings = Settings(root=tmp_path, images_dir=tmp_path / "images", target=TARGET)
    got = publish._announce(settings, TARGET, [plan], {"app": _pushed(plan)}, json=False)
    expected = notify.announce(plan, TARGET, _pushed(plan), facts).as_dict()
    assert got == {"app": expected}
    assert "`1.4.2`" in summary.read_text()
    [(_, body)] = receiver.got
    assert json.loads(body["message"])["images"] == [expected]


def test_the_push_task_reads_nothing_when_nobody_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagefleet.tasks import publish

    def unexpected(*_: object) -> None:
        raise AssertionError("no registry read without --json, a summary or a target")

    monkeypatch.setattr(notify, "read_facts", unexpected)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("FLEET_NOTIFY_URLS", raising=False)
    plan = _plan(tmp_path, source=None)
    settings = Settings(root=tmp_path, images_dir=tmp_path / "images", target=TARGET)
    assert publish._announce(settings, TARGET, [plan], {"app": _pushed(plan)}, json=False) == {}


def test_an_unreadable_registry_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    assert notify.read_facts(parse_target("127.0.0.1:1/team"), "app", DIGEST) is None
    assert "could not read platforms and size of app" in caplog.text
