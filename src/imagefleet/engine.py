"""The only module that talks to Docker: build, inspect, tag, push, remove.

Builds go through BuildKit with ``docker buildx bake`` (:func:`imagefleet.bake.run_bake`) when
the buildx plugin is present, and through the Engine API's classic builder (the Docker SDK) when
it is not. The build path's read-only questions (which images, which tags) go straight to the
daemon's UNIX socket (:mod:`imagefleet.enginesocket`); everything else uses the Docker SDK,
imported when first needed. Failures come back as the typed errors of :mod:`imagefleet.errors`;
which one is read from the output by :mod:`imagefleet.buildlog` (builds) and
:mod:`imagefleet.pusherrors`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import bake, signals, tools
from .buildlog import (
    QUIET_STEPS,
    TAIL_LINES,
    buildx_failure,
    classic_failure,
    classic_step,
)
from .containers import Containers
from .dockersdk import client as _sdk_client
from .dockersdk import cut_on_stop as _cut_on_stop
from .dockersdk import sdk as _sdk
from .dockersdk import short as _short
from .dockersdk import transport_error as _transport_error
from .enginesocket import EngineSocket, EngineSocketError, socket_path
from .errors import (
    BuildDroppedError,
    BuildError,
    BuildxMissingError,
    BuiltImageMissingError,
    DaemonUnreachableError,
    FleetError,
    MultiPlatformUnsupportedError,
    NamedContextsClassicError,
    NoImageBuiltError,
    PullFailedError,
    PushInterruptedError,
    PushWithoutDigestError,
)
from .pusherrors import classify_push_error
from .reference import split_tag

if TYPE_CHECKING:
    import docker

LOGGER = logging.getLogger(__name__)
_TIMEOUT = 120  # seconds a request to the daemon may take (a big image's tag or removal)
_Q = TypeVar("_Q")
_A = TypeVar("_A")


StepCallback = Callable[[str], None]
TargetStepCallback = Callable[[str, str], None]  # (image, step title)


@dataclass(frozen=True)
class BuildRequest:
    """Everything one build needs; the plan produces these."""

    image: str
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]  # local references, e.g. ("helm-deploy:<sha>",)
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    no_cache: bool = False
    base: str = ""
    from_scope: Mapping[str, str] = field(default_factory=dict)  # ARGs visible to FROM lines
    # Parents built before this build (earlier in the run, or ready locally): reference as the
    # Dockerfile names it -> local image.
    parents: Mapping[str, str] = field(default_factory=dict)
    # Parents built in the same bake batch: reference as the Dockerfile names it -> image name.
    batch_parents: Mapping[str, str] = field(default_factory=dict)
    # Where the result goes (bake ``output`` entries); empty: loaded into the local engine.
    outputs: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()  # bake ``cache-from`` entries
    cache_to: tuple[str, ...] = ()  # bake ``cache-to`` entries
    attest: tuple[str, ...] = ()  # bake ``attest`` entries (pushes from BuildKit nodes only)
    contexts: Mapping[str, str] = field(default_factory=dict)  # named local context -> directory
    secrets: tuple[str, ...] = ()  # bake ``secret`` entries (``id=…,env=…``), never values


@dataclass(frozen=True)
class TargetResult:
    """What one image of a batch came to: built (``image_id``), failed (``error``), or neither
    (not run: cancelled by another image's failure, or ``dropped`` with the whole batch)."""

    image: str
    image_id: str | None = None
    error: FleetError | None = None
    seconds: float = 0.0
    dropped: str = ""  # why BuildKit dropped the batch (no target failed) before its export


class Engine(Containers):
    """A connection to one Docker daemon."""

    _client: docker.DockerClient | None = None
    _answers: EngineSocket | None = None
    # Images a dropped bake left to build again (image -> request), until a bake rebuilt them.
    _unsettled: Mapping[str, BuildRequest] = {}

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        use_buildx: bool,
        answers: EngineSocket | None = None,
    ) -> None:
        """``client``: the Docker SDK's, made from the environment when first needed if not
        given. ``answers``: the daemon's socket for the read-only questions of the build path
        (see :mod:`imagefleet.enginesocket`); without it, the SDK answers them too."""
        self._client = client
        self._answers = answers
        self.use_buildx = use_buildx

    @property
    def client(self) -> docker.DockerClient:
        """The Docker SDK client, connected (and the SDK imported) on first use. What goes
        through it may change images: the run's early listing no longer answers."""
        if self._answers is not None:
            self._answers.changed()
        if self._client is None:
            self._client = _sdk_client(_TIMEOUT)
        return self._client

    @classmethod
    def connect(cls, builder: str = "auto") -> Engine:
        """Connect to the daemon from the environment (``DOCKER_HOST`` …) and pick the builder."""
        path = socket_path()
        answers = EngineSocket(path, timeout=_TIMEOUT) if path is not None else None
        client = None
        if answers is not None:
            try:
                answers.ping()
            except EngineSocketError as exc:
                raise DaemonUnreachableError(reason=str(exc)) from exc
        else:
            client = _sdk_client(_TIMEOUT)  # it asks the daemon for its API version: reachable
        if builder == "classic":
            use_buildx = False
        else:
            use_buildx = tools.has_buildx()
            if builder == "buildx" and not use_buildx:
                raise BuildxMissingError()
        return cls(client, use_buildx=use_buildx, answers=answers)

    # -- inspection ------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        """The local image ID of ``ref``, or ``None`` if there is no such image."""
        if self._answers is not None:
            return self._ask(self._answers.image_id, ref)
        try:
            return str(self.client.images.get(ref).id)
        except _sdk().errors.ImageNotFound:
            return None

    def inspect(self, ref: str) -> dict[str, Any]:
        """``docker image inspect`` of ``ref``."""
        result: dict[str, Any] = self.client.images.get(ref).attrs
        return result

    def labelled_images(self, label: str) -> list[dict[str, Any]]:
        """Every local image carrying ``label``, in one query (``Id``, ``Labels``, ``RepoTags``,
        ``Created`` of each)."""
        listed = self._answers.listed() if self._answers is not None else None
        if listed is not None:
            return [row for row in listed if label in (row.get("Labels") or {})]
        return self._images({"label": [label]})

    def _images(self, filters: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        if self._answers is not None:
            return self._ask(self._answers.images, filters)
        rows: list[dict[str, Any]] = self.client.api.images(filters=dict(filters))
        return rows

    def _ask(self, question: Callable[[_Q], _A], arg: _Q) -> _A:
        """A question to the socket; a daemon that stopped answering is said as such."""
        assert self._answers is not None  # noqa: S101 - callers check
        try:
            return question(arg)
        except EngineSocketError as exc:
            if exc.status:
                raise  # the daemon answered with an error: as unexpected as through the SDK
            raise DaemonUnreachableError(reason=str(exc)) from exc

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        """``repository@sha256:…`` entries the daemon recorded for ``ref`` after pushes."""
        return tuple(self.inspect(ref).get("RepoDigests") or ())

    def supports_multi_platform(self) -> bool:
        """Whether images of several platforms can be stored locally (containerd image store)."""
        status = self.client.info().get("DriverStatus") or []
        return any(v == "io.containerd.snapshotter.v1" for _, v in status)

    # -- changes ---------------------------------------------------------------------------

    def tag(self, source: str, repository: str, tag: str) -> None:
        """Point ``repository:tag`` at the image ``source``."""
        self.client.api.tag(source, repository, tag=tag, force=True)

    def pull(self, ref: str, auth: Mapping[str, str] | None = None) -> str:
        """Pull ``ref`` (``repo:tag`` or ``repo@sha256:…``); return the local image ID."""
        try:
            image = self.client.images.pull(ref, auth_config=dict(auth) if auth else None)
        except _sdk().errors.APIError as exc:
            raise PullFailedError(ref=ref, reason=_short(exc)) from exc
        return str(image.id)

    def labels(self, ref: str) -> dict[str, str]:
        """The labels of the local image ``ref`` (empty when it has none)."""
        return dict((self.inspect(ref).get("Config") or {}).get("Labels") or {})

    def remove(self, ref: str) -> None:
        """Remove a tag (or an image); missing ones are fine."""
        with contextlib.suppress(_sdk().errors.ImageNotFound):
            self.client.api.remove_image(ref, noprune=False)

    def build(self, request: BuildRequest, on_step: StepCallback | None = None) -> str:
        """Build ``request``; return the image ID. Raises :class:`BuildError` subclasses."""
        if len(request.platforms) > 1 and not self.supports_multi_platform():
            raise MultiPlatformUnsupportedError(
                image=request.image, platforms=", ".join(request.platforms)
            )
        if not self.use_buildx:
            return self._build_classic(request, on_step or (lambda _: None))
        step = on_step or (lambda _: None)
        [result] = self._bake([request], lambda _image, title: step(title)).values()
        if result.error is not None:
            raise result.error
        if result.dropped:
            raise BuildDroppedError(image=request.image, attempts=1, reason=result.dropped)
        assert result.image_id is not None  # noqa: S101 - a lone target is built or failed
        return result.image_id

    def build_batch(
        self, requests: Sequence[BuildRequest], on_step: TargetStepCallback | None = None
    ) -> dict[str, TargetResult]:
        """Build ``requests`` together in one ``docker buildx bake`` (two for a deep batch: its
        roots get a head start, see :func:`bake.runs`); one result per image.

        Bake stops every other target when one fails and then writes no metadata file: images
        whose export finished are built (ID from the log or their tag), the one whose step failed
        carries its error, the rest were not run. A bake that ended with no target failing (lost
        job, killed client) built what it exported or tagged; the rest are ``dropped``.
        """
        if not self.use_buildx:
            raise BuildxMissingError()
        results: dict[str, TargetResult] = {}
        runnable: list[BuildRequest] = []
        multi = any(len(r.platforms) > 1 for r in requests) and self.supports_multi_platform()
        for request in requests:
            if len(request.platforms) > 1 and not multi:
                error = MultiPlatformUnsupportedError(
                    image=request.image, platforms=", ".join(request.platforms)
                )
                results[request.image] = TargetResult(request.image, error=error)
            elif all(p in {r.image for r in runnable} for p in request.batch_parents.values()):
                runnable.append(request)  # requests come parents first
            else:
                results[request.image] = TargetResult(request.image)  # a parent cannot build
        if runnable:
            results.update(self._bake(runnable, on_step or (lambda _image, _title: None)))
        return {r.image: results[r.image] for r in requests}

    def _bake(
        self, requests: Sequence[BuildRequest], on_step: TargetStepCallback
    ) -> dict[str, TargetResult]:
        targets = bake.target_names(r.image for r in requests)
        images = {t: i for i, t in targets.items()}
        bakes = bake.runs(requests, targets)
        owner = {image: run for run in bakes for image in run.own}
        refs = {t for r in requests for t in r.tags}
        before = self._tag_ids(refs)  # one query: a dropped bake may leave tags its log misses
        if self._answers is not None:
            self._answers.changed()  # the bake tags
        started = time.monotonic()

        def line(run: bake.Run, text: str) -> None:
            found = run.log.feed(text, time.monotonic())
            if found and images[found[0]] in run.own and not found[1].startswith(QUIET_STEPS):
                on_step(images[found[0]], found[1])

        bake.run_all(bakes, targets, line)
        if signals.received() is not None:
            # The run is stopping: whatever the cancelled bake managed to export is no result,
            # and its tags go back to where they were (and what it wrote unnamed goes).
            self._undo(requests, before, self._tag_ids(refs))
            return {r.image: TargetResult(r.image) for r in requests}
        finished = time.monotonic()
        dropped = {run: run.log.dropped(run.code) for run in bakes}
        after = self._tag_ids(refs) if any(dropped.values()) else {}
        done: dict[str, TargetResult] = {}
        for request in requests:
            run, target = owner[request.image], targets[request.image]
            log = run.log
            seconds = log.last_seen.get(target, finished) - log.first_seen.get(target, started)
            image_id: str | None = None
            if run.code == 0 or target in log.exported:
                image_id = run.written.get(target, {}).get("containerimage.config.digest")
                image_id = image_id or log.exported.get(target) or self.image_id(request.tags[0])
                if image_id is None:
                    error: BuildError = BuiltImageMissingError(
                        image=request.image, ref=request.tags[0]
                    )
                    done[request.image] = TargetResult(request.image, error=error)
                    continue
                done[request.image] = TargetResult(request.image, str(image_id), None, seconds)
            elif dropped[run]:
                fresh = bake.fresh_image(request.tags, before, after)
                done[request.image] = TargetResult(
                    request.image, fresh, None, seconds, dropped="" if fresh else dropped[run]
                )
            elif len(run.requests) == 1 or (
                log.failed(target)
                and all(done[i].image_id for i in bake.ancestors(request, requests))
            ):
                error = buildx_failure(request, log.logs[target])
                done[request.image] = TargetResult(request.image, None, error, seconds)
            else:
                done[request.image] = TargetResult(request.image)
        if any(dropped.values()):
            self._undo([r for r in requests if done[r.image].dropped], before, after)
        elif self._unsettled:
            # The daemon may finish a killed bake's export after its client died: once the
            # images go again, such a late copy has lost its tags. Those rebuilt here are swept.
            again = [r for r in requests if r.image in self._unsettled]
            self._sweep(again)
            self._unsettled = {k: v for k, v in self._unsettled.items() if k not in done}
        return done

    def _undo(
        self,
        requests: Sequence[BuildRequest],
        before: Mapping[str, str],
        after: Mapping[str, str],
    ) -> None:
        """Take back what a bake that did not finish (dropped, or stopped by a signal) half did
        for ``requests``: tags it put on an image go back, and images it wrote but never (or no
        longer) named go, so a client that died between writing an image and naming it leaves
        no litter. An untagged image is one of these when it carries every label its request
        asked for."""
        if not requests:
            return
        mine = {t for r in requests for t in r.tags}
        self._restore_tags(
            {t: i for t, i in before.items() if t in mine},
            {t: i for t, i in after.items() if t in mine},
        )
        self._sweep(requests)
        self._unsettled = {**self._unsettled, **{r.image: r for r in requests}}

    def _sweep(self, requests: Sequence[BuildRequest]) -> None:
        """Remove untagged images that carry every label one of ``requests`` asked for."""
        if not requests:
            return
        for row in self._images({"dangling": ["true"]}):
            labels = row.get("Labels") or {}
            if any(r.labels and r.labels.items() <= labels.items() for r in requests):
                self.remove(str(row["Id"]))

    def _restore_tags(self, before: Mapping[str, str], now: Mapping[str, str]) -> None:
        """Put local tags back: those made since ``before`` go, those moved point back."""
        for ref, image_id in now.items():
            if ref not in before:
                self.remove(ref)
            elif before[ref] != image_id:
                self.tag(before[ref], *split_tag(ref))

    def _tag_ids(self, refs: set[str]) -> dict[str, str]:
        """Which of the local references ``refs`` exist, with their image IDs (one query)."""
        listed = self._answers.listed() if self._answers is not None else None
        rows = listed if listed is not None else self._images({"reference": sorted(refs)})
        return {t: str(r["Id"]) for r in rows for t in r.get("RepoTags") or () if t in refs}

    def _build_classic(self, request: BuildRequest, on_step: StepCallback) -> str:
        if request.contexts:
            raise NamedContextsClassicError(image=request.image, names=", ".join(request.contexts))
        # The classic builder has no named contexts; it does use a local image of the exact
        # reference without pulling, so point that reference at the parent just built.
        for reference, local in request.parents.items():
            repository, tag = split_tag(reference)
            self.tag(local, repository, tag)
        with _cut_on_stop(self.client.api):
            return self._classic(request, on_step)

    def _classic(self, request: BuildRequest, on_step: StepCallback) -> str:
        stream: Iterator[dict[str, Any]] = self.client.api.build(
            path=str(request.context),
            dockerfile=str(request.dockerfile.relative_to(request.context)),
            tag=request.tags[0],
            buildargs=dict(request.build_args),
            labels=dict(request.labels),
            nocache=request.no_cache,
            platform=request.platforms[0] if request.platforms else None,
            rm=True,
            forcerm=True,
            decode=True,
        )
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        step = ""
        image_id: str | None = None
        for event in stream:
            if "error" in event:
                raise classic_failure(request, step, str(event["error"]), tail)
            text = str(event.get("stream", "")).rstrip("\n")
            for line in text.splitlines():
                LOGGER.debug("%s | %s", request.image, line)
                if title := classic_step(line):
                    step = title
                    tail.clear()
                    on_step(step)
                elif line.strip():
                    tail.append(line)
            aux = event.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
        if image_id is None:
            raise NoImageBuiltError(image=request.image)
        for ref in request.tags[1:]:
            repository, _, tag = ref.rpartition(":")
            self.tag(image_id, repository, tag)
        return image_id

    def push(
        self,
        repository: str,
        tag: str,
        auth: Mapping[str, str] | None = None,
        *,
        why_retrying: Callable[[], FleetError | None] | None = None,
    ) -> str:
        """Push ``repository:tag``; return the manifest digest Docker reports.

        An error anywhere in the push stream is a failure, classified by
        :func:`classify_push_error` so the caller knows whether a retry can help. Docker retries
        a failed upload for ~50 s whatever the cause; at its first "Retrying in" ``why_retrying``
        is asked once, and an error it returns (a read-only registry, one that is down) ends
        the push at once.
        """
        try:
            stream: Generator[dict[str, Any], None, None] = self.client.api.push(
                repository,
                tag=tag,
                stream=True,
                decode=True,
                auth_config=dict(auth) if auth else None,
            )
            digest: str | None = None
            # Closed whatever happens: the daemon goes on pushing (and tags) while it is open.
            with contextlib.closing(stream):
                for event in stream:
                    if "error" in event or "errorDetail" in event:
                        message = str(event.get("error") or event["errorDetail"].get("message", ""))
                        raise classify_push_error(message)(
                            reference=f"{repository}:{tag}", reason=message
                        )
                    if why_retrying and str(event.get("status", "")).startswith("Retrying"):
                        if (refusal := why_retrying()) is not None:
                            raise refusal
                        why_retrying = None  # a passing failure: Docker's own retries go on
                    aux = event.get("aux")
                    if isinstance(aux, dict) and aux.get("Digest"):
                        digest = str(aux["Digest"])
        except _sdk().errors.APIError as exc:
            message = _short(exc)
            raise classify_push_error(message)(
                reference=f"{repository}:{tag}", reason=message
            ) from exc
        except _transport_error() as exc:
            raise PushInterruptedError(reference=f"{repository}:{tag}", reason=_short(exc)) from exc
        if digest is None:
            raise PushWithoutDigestError(reference=f"{repository}:{tag}")
        return digest
