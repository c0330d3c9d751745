"""Availability notifications: what a successful push made available, told to the GitHub step
summary, to ``--json`` and to apprise targets (Slack, Teams, e-mail, a JSON webhook, …).

A notification is a courtesy: whatever goes wrong here is a warning, never a failed push.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .catalog import SEMVER_RE
from .errors import FleetError, TagMissingAfterPushError

if TYPE_CHECKING:
    from .plan import ImagePlan
    from .reference import Target
    from .registry import PushedTag, RegistryClient
    from .settings import Settings

LOGGER = logging.getLogger(__name__)

URLS_ENV = (
    "FLEET_NOTIFY_URLS"  # more apprise URLs, space- or comma-separated: tokens stay out of git
)
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
# apprise's generic webhooks: their body has a fixed shape, so the fields travel as JSON in it.
JSON_SCHEMES = frozenset({"json", "jsons"})
EVENT = "imagefleet.images-available"
_OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class Announcement:
    """One image a push made available."""

    image: str
    repository: str  # HOST/NAMESPACE/IMAGE, what `docker pull` takes
    digest: str
    tags: tuple[str, ...]
    platforms: tuple[str, ...]
    size: int | None  # bytes a pull of every platform downloads; None when the registry did not say
    commit: str
    version: str | None
    registry_url: str  # the repository's page (Docker Hub) or its address on the registry
    release_notes: (
        str | None
    )  # the release tag's page, else the commit's; None without a web source

    @property
    def pull(self) -> str:
        """The immutable reference: ``repository@digest``."""
        return f"{self.repository}@{self.digest}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json`` and the JSON webhook)."""
        return {
            "image": self.image,
            "repository": self.repository,
            "digest": self.digest,
            "pull": self.pull,
            "tags": list(self.tags),
            "platforms": list(self.platforms),
            "size": self.size,
            "commit": self.commit,
            "version": self.version,
            "registry_url": self.registry_url,
            "release_notes": self.release_notes,
        }


# -- what to announce ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFacts:
    """What a pushed manifest holds, as the registry serves it."""

    platforms: tuple[str, ...]  # os/arch[/variant], in the index's order
    size: int  # bytes a pull of every platform downloads: compressed layers and configs


def describe(target: Target, image_name: str, digest: str) -> ImageFacts:
    """Platforms and size of ``target/image_name@digest`` (an image manifest or an index)."""
    from .registry import client_for

    client, prefix = client_for(target)
    path = f"{prefix}{image_name}"
    body = _manifest_json(client, path, digest)
    if "manifests" not in body:
        config = client.blob_json(path, body["config"]["digest"])
        return ImageFacts((_platform(config),), _manifest_size(body))
    platforms, size = [], 0
    for entry in body["manifests"]:
        wanted = entry.get("platform") or {}
        # Attestations (provenance, SBOM) ride along as manifests of platform unknown/unknown.
        if wanted.get("os") in (None, "unknown"):
            continue
        platforms.append(_platform(wanted))
        size += _manifest_size(_manifest_json(client, path, entry["digest"]))
    return ImageFacts(tuple(platforms), size)


def _manifest_json(client: RegistryClient, path: str, digest: str) -> dict[str, Any]:
    found = client.manifest_bytes(path, digest)
    if found is None:
        raise TagMissingAfterPushError(reference=f"{path}@{digest}")
    body: dict[str, Any] = json.loads(found[0])
    return body


def _manifest_size(manifest: dict[str, Any]) -> int:
    parts = [manifest.get("config") or {}, *(manifest.get("layers") or ())]
    return sum(int(p.get("size") or 0) for p in parts)


def _platform(spec: dict[str, Any]) -> str:
    return "/".join(str(spec[k]) for k in ("os", "architecture", "variant") if spec.get(k))


def read_facts(target: Target, image: str, digest: str) -> ImageFacts | None:
    """Platforms and size of the pushed manifest, or ``None`` (with a warning) when the registry
    cannot tell: the announcement then falls back to the planned platforms."""
    try:
        return describe(target, image, digest)
    except (FleetError, OSError, ValueError, KeyError) as exc:  # requests' errors are OSErrors
        LOGGER.warning("could not read platforms and size of %s from the registry: %s", image, exc)
        return None


def announce(
    plan: ImagePlan, target: Target, pushed: Sequence[PushedTag], facts: ImageFacts | None
) -> Announcement:
    """The announcement of ``plan``'s image, pushed as ``pushed`` (at least one tag)."""
    published = {t.reference.rsplit(":", 1)[1] for t in pushed}
    # The plan's tags, in push order: the content-key tag is bookkeeping, not for people.
    tags = tuple(t for t in plan.tags.tags if t in published)
    version = next((t for t in tags if SEMVER_RE.match(t)), None)
    commit = plan.labels.get(f"{_OCI}.revision", plan.tags.primary)
    source = plan.labels.get(f"{_OCI}.source")
    return Announcement(
        image=plan.name,
        repository=target.repository(plan.name),
        digest=pushed[0].digest,
        tags=tags,
        platforms=facts.platforms if facts else plan.platforms,
        size=facts.size if facts else None,
        commit=commit,
        version=version,
        registry_url=registry_url(target, plan.name),
        release_notes=release_notes_url(source, plan.name, version, commit),
    )


def registry_url(target: Target, image: str) -> str:
    """Where people look at the repository: Docker Hub's page, else ``https://<repository>``
    (GHCR, Quay, GitLab and Harbor answer a browser there); loopback registries are plain HTTP."""
    from .reference import DOCKER_HUB
    from .registry import is_loopback

    if target.domain in (DOCKER_HUB, "index.docker.io", "registry-1.docker.io"):
        if target.namespace in ("", "library"):
            return f"https://hub.docker.com/_/{image}"
        return f"https://hub.docker.com/r/{target.namespace}/{image}"
    scheme = "http" if is_loopback(target.domain) else "https"
    return f"{scheme}://{target.repository(image)}"


def release_notes_url(
    source: str | None, image: str, version: str | None, commit: str
) -> str | None:
    """The page of the git tag ``<image>-v<version>`` when a version was pushed, else of the
    commit, on the web source repository (``fleet.source_url`` or the ``origin`` remote). GitLab
    spells both paths with ``/-/``; GitHub, Gitea and Forgejo without."""
    if not source or not source.startswith(("https://", "http://")):
        return None
    base = source.rstrip("/")
    if "gitlab" in urlsplit(source).netloc:
        return f"{base}/-/tags/{image}-v{version}" if version else f"{base}/-/commit/{commit}"
    return f"{base}/releases/tag/{image}-v{version}" if version else f"{base}/commit/{commit}"


# -- where it goes -------------------------------------------------------------------------------


def targets(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """apprise URLs to notify: ``fleet.notify.urls``, then those in ``$FLEET_NOTIFY_URLS``."""
    extra = (os.environ if env is None else env).get(URLS_ENV, "")
    found = (*settings.notify_urls, *re.split(r"[\s,]+", extra.strip()))
    return tuple(dict.fromkeys(u for u in found if u))


def summary(announcements: Sequence[Announcement]) -> str:
    """A markdown table for ``$GITHUB_STEP_SUMMARY``."""
    rows = [
        "### Images available\n",
        "| image | tags | digest | platforms | size | commit | release notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in announcements:
        notes = f"[{a.version or 'commit'}]({a.release_notes})" if a.release_notes else "-"
        cells = (
            f"[`{a.repository}`]({a.registry_url})",
            " ".join(f"`{t}`" for t in a.tags),
            f"`{a.digest}`",
            ", ".join(a.platforms) or "-",
            human_size(a.size),
            f"`{a.commit[:12]}`",
            notes,
        )
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n\n"


def write_step_summary(
    announcements: Sequence[Announcement], env: Mapping[str, str] | None = None
) -> Path | None:
    """Append :func:`summary` to ``$GITHUB_STEP_SUMMARY`` when it is set; return the file."""
    path = (os.environ if env is None else env).get(SUMMARY_ENV)
    if not path or not announcements:
        return None
    try:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(summary(announcements))
    except OSError as exc:
        LOGGER.warning("could not write the step summary %s: %s", path, exc.strerror or exc)
        return None
    return Path(path)


def message(announcements: Sequence[Announcement]) -> tuple[str, str]:
    """Title and markdown body for people (chat, e-mail)."""
    names = ", ".join(a.image for a in announcements)
    title = f"Available: {names}"
    blocks = []
    for a in announcements:
        facts = [
            f"tags: {', '.join(a.tags)}",
            f"platforms: {', '.join(a.platforms) or '-'}",
            f"size: {human_size(a.size)}",
            f"commit: {a.commit[:12]}",
        ]
        if a.release_notes:
            facts.append(f"release notes: {a.release_notes}")
        blocks.append(f"**{a.image}** [{a.pull}]({a.registry_url})\n" + "\n".join(facts))
    return title, "\n\n".join(blocks)


def payload(announcements: Sequence[Announcement]) -> dict[str, Any]:
    """What a generic JSON webhook finds, as JSON text, in the ``message`` of apprise's body."""
    return {"event": EVENT, "images": [a.as_dict() for a in announcements]}


def send(urls: Sequence[str], announcements: Sequence[Announcement]) -> tuple[list[str], list[str]]:
    """Notify every URL on its own, so one failure stops no other; return the redacted targets
    that were notified and those that failed (each failure logged as one warning)."""
    if not urls or not announcements:
        return [], []
    import apprise  # only when there is something to send: it is slow to import

    # apprise logs its own failures, with details that may quote the URL: our warning suffices.
    # Its loggers are silenced by level for the call (a level holds for the children too, and
    # nothing another library does to propagation or handlers brings them back).
    quiet = logging.getLogger("apprise")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL + 1)
    try:
        return _send_each(apprise, urls, announcements)
    finally:
        quiet.setLevel(level)


def _send_each(
    apprise: Any, urls: Sequence[str], announcements: Sequence[Announcement]
) -> tuple[list[str], list[str]]:
    title, body = message(announcements)
    as_json = json.dumps(payload(announcements))
    sent, failed = [], []
    for url in urls:
        target = redact(url)
        generic = url.partition("://")[0].lower() in JSON_SCHEMES
        try:
            notifier = apprise.Apprise()
            if not notifier.add(url):
                why = "apprise does not understand this URL"
            elif notifier.notify(
                body=as_json if generic else body,
                title=title,
                body_format=apprise.NotifyFormat.TEXT if generic else apprise.NotifyFormat.MARKDOWN,
            ):
                sent.append(target)
                continue
            else:
                why = "the service did not accept it"
        # apprise wraps services it does not own: any error there is still only a failed message.
        except Exception as exc:
            why = type(exc).__name__
        LOGGER.warning("notification to %s failed (%s); the push itself succeeded", target, why)
        failed.append(target)
    return sent, failed


def redact(url: str) -> str:
    """``scheme://host[:port]`` of an apprise URL: no user, password, path or query, and no host
    that is not a host name (Slack, Discord and Teams URLs carry tokens where a host would be)."""
    scheme, sep, _ = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "(not a URL)"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{scheme}://…"
    if host == "localhost" or re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", host):
        pass
    elif _is_ip(host):
        host = f"[{host}]" if ":" in host else host
    else:
        return f"{scheme}://…"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def human_size(size: int | None) -> str:
    """``123.4 MB`` (decimal units, as registries and ``docker images`` show)."""
    if size is None:
        return "-"
    if size < 1000:
        return f"{size} B"
    value, unit = size / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"
