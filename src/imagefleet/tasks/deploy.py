"""The helm-deploy task: deploy a chart with an image of this repository, safely."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from .. import console
from ..console import escape
from ..errors import MissingFlagError
from ..reference import validate_tag
from ._common import listify, settings, speaks_errors

# The library is imported where it is used: `invoke --list` loads this module and must stay fast.
if TYPE_CHECKING:
    from ..deploy import release as deploy_mod
    from ..settings import Settings


def _image_values(s: Settings, image: str | None, tag: str | None) -> tuple[str, ...]:
    from .. import catalog as catalog_mod
    from .. import git as git_mod
    from ..tags import primary_tag

    if image is None:
        if tag is not None:
            catalog_mod.discover(s.images_dir)  # still validate the repository
            return (f"{s.helm.image_tag_key}={validate_tag(tag)}",)
        return ()
    catalog_mod.discover(s.images_dir).get(image)  # unknown names fail with close matches
    chosen = validate_tag(tag) if tag else primary_tag(git_mod.state(s.root))
    return (
        f"{s.helm.image_repository_key}={s.target.repository(image)}",
        f"{s.helm.image_tag_key}={chosen}",
    )


def _container_session(
    s: Settings,
    request: deploy_mod.DeployRequest,
    scratch: Path,
    image: str,
    kube_context: str | None,
    needs_cluster: bool,
) -> tuple[deploy_mod.Session, deploy_mod.DeployRequest]:
    """Everything the container needs, under one read-only mount: no host tools but Docker."""
    from ..deploy import kubeconfig
    from ..deploy import release as deploy_mod
    from ..deploy.helm import ContainerRunner
    from ..engine import Engine

    mounts = {str(scratch): "/fleet"}
    environment: dict[str, str] = {}
    if needs_cluster:
        config = kubeconfig.load()
        kubeconfig.flatten(config, config.context(kube_context), scratch / "kubeconfig")
        environment["KUBECONFIG"] = "/fleet/kubeconfig"
    values = []
    (scratch / "values").mkdir()
    for index, path in enumerate(request.values):
        copy = scratch / "values" / f"{index}-{path.name}"
        shutil.copy2(path, copy)
        copy.chmod(0o644)
        values.append(copy)
    chart = request.chart
    if Path(chart).exists():
        mounts[str(Path(chart).resolve())] = "/fleet-chart"
    runner = ContainerRunner(Engine.connect(s.builder), image, mounts, environment)
    moved = deploy_mod.DeployRequest(**{**request.__dict__, "values": tuple(values)})
    return deploy_mod.Session(runner, scratch), moved


@task(
    name="helm-deploy",
    auto_shortflags=False,  # too many flags share initials: long names only, no surprises
    iterable=["values", "set"],
    help={
        "release": "Helm release name (required)",
        "chart": "chart: a local path, repo/name, or oci://registry/path (required)",
        "namespace": "namespace of the release (required; created unless --no-create-namespace)",
        "values": "values file; repeatable, later files win",
        "set": "KEY=VALUE value override; repeatable (KEY like a.b.c)",
        "image": "an image of this repository: sets the chart's image repository (and tag)",
        "tag": "image tag to deploy (default with --image: this commit's sha tag)",
        "timeout": "how long to wait for resources and hooks (Go duration: 90s, 5m)",
        "wait": "wait until resources are ready and roll back on failure (default on)",
        "kube_context": "kubeconfig context to use (default: the current one)",
        "create_namespace": "create the namespace if missing (default on)",
        "dry_run": "render and validate every manifest offline against the Kubernetes schemas; "
        "touch no cluster",
        "diff": "show, per object, what would change against the live release; deploy nothing",
        "in_container": "run helm (and kubectl) inside the helm-deploy image: only Docker needed",
        "deploy_image": "image for --in-container (default: fleet.helm.deploy_image)",
        "json": "print the result as JSON on stdout",
    },
)
@speaks_errors
def helm_deploy(
    c: Context,
    # Required, but checked here rather than by Invoke: Invoke's refusal has no hint and exit 1.
    release: str | None = None,
    chart: str | None = None,
    namespace: str | None = None,
    values: list[str] | None = None,
    set: list[str] | None = None,
    image: str | None = None,
    tag: str | None = None,
    timeout: str | None = None,
    wait: bool = True,
    kube_context: str | None = None,
    create_namespace: bool = True,
    dry_run: bool = False,
    diff: bool = False,
    in_container: bool = False,
    deploy_image: str | None = None,
    json: bool = False,
) -> None:
    """Deploy a chart with helm upgrade --install: locked, recovered, rolled back on failure."""
    from ..deploy import kubeconfig
    from ..deploy import release as deploy_mod
    from ..deploy.helm import LocalRunner

    s = settings(c)
    if not (release and chart and namespace):
        given = {"--release": release, "--chart": chart, "--namespace": namespace}
        missing = [flag for flag, value in given.items() if not value]
        raise MissingFlagError(
            task="helm-deploy",
            flags=" and ".join((", ".join(missing[:-1]), missing[-1])).removeprefix(" and "),
            usage="--release NAME --chart CHART --namespace NAMESPACE",
        )
    request = deploy_mod.DeployRequest(
        release=release,
        chart=chart,
        namespace=namespace,
        values=tuple(Path(v).resolve() for v in listify(values)),
        sets=tuple(listify(set)),
        set_strings=_image_values(s, image, tag),
        timeout=timeout or s.helm.timeout,
        wait=wait,
        create_namespace=create_namespace,
        history_max=s.helm.history_max,
    )
    request.check()
    needs_cluster = not dry_run
    with tempfile.TemporaryDirectory(prefix="imagefleet-deploy-") as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o755)
        if in_container:
            chosen = (
                deploy_image
                or s.helm.deploy_image
                or f"{s.target.repository('helm-deploy')}:latest"
            )
            session, request = _container_session(
                s, request, scratch, chosen, kube_context, needs_cluster
            )
        else:
            # A kubeconfig named by $KUBECONFIG is read here first (in a cluster's pod there may
            # be none): a missing or malformed file is named, not blamed on the cluster by helm.
            if needs_cluster and (kube_context or os.environ.get("KUBECONFIG")):
                config = kubeconfig.load()
                kube_context = config.context(kube_context) if kube_context else None
            runner = LocalRunner(binaries={"helm": s.helm.binary})
            session = deploy_mod.Session(runner, scratch, kube_context)
        if dry_run:
            _show_dry_run(s, session, request, json=json)
            return
        if diff:
            _show_diff(session, request, json=json)
            return
        with console.working(f"helm-deploy {release} → {namespace}"):
            result = deploy_mod.deploy(
                session, request, lock_wait=s.helm.lock_wait, in_container=in_container
            )
    if result.recovered:
        console.info(f"[yellow]recovered[/]: {escape(result.recovered)}")
    if json:
        console.emit_json(result.as_dict())
        return
    console.info(
        f"[green]deployed[/] {escape(result.release)} to {escape(result.namespace)}: revision "
        f"{result.revision:d} ({escape(result.status)}), chart {escape(result.chart)}, app "
        f"{escape(result.app_version or '-')}, {result.seconds:.1f}s, helm {escape(result.helm)}"
    )


def _show_dry_run(
    s: Settings, session: deploy_mod.Session, request: deploy_mod.DeployRequest, *, json: bool
) -> None:
    from ..deploy import release as deploy_mod

    version = s.helm.kubernetes_version or _latest_schema()
    objects = deploy_mod.dry_run(session, request, version)
    if json:
        console.emit_json({"dry_run": True, "kubernetes_version": version, "objects": objects})
        return
    for name in objects:
        console.out.print(name, markup=False)
    console.info(
        f"[green]valid[/]: {len(objects)} object(s) of {escape(request.chart)} "
        f"against Kubernetes {escape(version)} (nothing was deployed)"
    )


def _show_diff(
    session: deploy_mod.Session, request: deploy_mod.DeployRequest, *, json: bool
) -> None:
    from rich.text import Text

    from ..deploy import release as deploy_mod

    changes = deploy_mod.diff(session, request)
    if json:
        console.emit_json(
            [{"object": ch.key, "action": ch.action, "diff": list(ch.diff)} for ch in changes]
        )
        return
    for change in changes:
        console.out.print(f"[bold]{escape(change.action)}[/] {escape(change.key)}")
        for line in change.diff[2:]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.out.print(Text(line, style=style))
    console.info(
        f"{len(changes)} object(s) would change in release {escape(request.release)} "
        "(nothing was deployed)"
    )


def _latest_schema() -> str:
    import kubernetes_validate

    return str(kubernetes_validate.latest_version())
