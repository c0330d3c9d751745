"""Containers of the local engine: run one command, a long-running service, a sleeper tests exec
into; remove them by label or image. Mixed into :class:`imagefleet.engine.Engine`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .dockersdk import sdk as _sdk
from .dockersdk import short as _short
from .dockersdk import transport_error as _transport_error
from .errors import ContainerStartError, ImageNotAvailableError

if TYPE_CHECKING:
    import docker


class Containers:
    """What an engine does with containers (needs ``client``, a Docker SDK client)."""

    @property
    def client(self) -> docker.DockerClient:
        """The Docker SDK client (the engine provides it)."""
        raise NotImplementedError

    def run_detached(
        self, image: str, *, ports: Mapping[str, tuple[str, int]], volumes: Mapping[str, str]
    ) -> str:
        """Start a long-running container (removed when it stops); return its ID."""
        container = self.client.containers.run(
            image,
            detach=True,
            remove=True,
            ports=dict(ports),
            volumes={host: {"bind": inside, "mode": "rw"} for host, inside in volumes.items()},
        )
        return str(container.id)

    def run_command(
        self,
        image: str,
        argv: Sequence[str],
        *,
        mounts: Mapping[str, str],
        environment: Mapping[str, str],
        user: str | None = None,
        timeout: float = 600,
    ) -> tuple[int, str, str]:
        """Run ``argv`` in a throwaway container of ``image`` on the host network; mounts are
        read-only. Returns (exit code, stdout, stderr); the container is always removed."""
        try:
            container = self.client.containers.run(
                image,
                list(argv),
                detach=True,
                network_mode="host",
                user=user,
                environment=dict(environment),
                volumes={host: {"bind": inside, "mode": "ro"} for host, inside in mounts.items()},
                labels={"imagefleet.run": "command"},
            )
        except _sdk().errors.ImageNotFound as exc:
            raise ImageNotAvailableError(image=image) from exc
        try:
            try:
                status = container.wait(timeout=timeout)
            except _transport_error():
                container.kill()
                return 124, "", f"timed out after {timeout:.0f}s"
            stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
            stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
            return int(status.get("StatusCode", 1)), stdout, stderr
        finally:
            with contextlib.suppress(_sdk().errors.NotFound):
                container.remove(force=True)

    def start_sleeper(self, image: str, *, labels: Mapping[str, str]) -> Any:
        """Start a container of ``image`` that only sleeps (tests exec into it); return the SDK's
        handle. A container the engine cannot start is :class:`ContainerStartError`, with the
        engine's own words (exec format error, a lost network, …)."""
        try:
            return self.client.containers.run(
                image,
                entrypoint=["sleep"],
                command=["3600"],
                detach=True,
                labels=dict(labels),
            )
        except _sdk().errors.APIError as exc:
            said = str(getattr(exc, "explanation", "") or "") or _short(exc)
            raise ContainerStartError(ref=image, reason=" ".join(said.split())[:300]) from exc

    def remove_containers(self, *, label: str = "", image: str = "", since: float = 0) -> int:
        """Remove every container (running or not) carrying ``label``, or made from ``image``
        (as container-structure-test's, which carry no label), created since ``since`` (a Unix
        time); return how many."""
        filters = {"label": label} if label else {"ancestor": image}
        rows: list[dict[str, Any]] = self.client.api.containers(all=True, filters=filters)
        found = [str(r["Id"]) for r in rows if int(r.get("Created", 0)) >= int(since)]
        for container_id in found:
            self.remove_container(container_id)
        return len(found)

    def remove_container(self, container_id: str) -> None:
        """Stop and remove a container; a missing one is fine."""
        with contextlib.suppress(_sdk().errors.NotFound):
            self.client.containers.get(container_id).remove(force=True)
