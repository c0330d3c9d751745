"""Invoke collections: parse flags, call the library, turn errors into exit codes."""

from __future__ import annotations

import atexit
import gc

from invoke.collection import Collection

from ..settings import DEFAULTS
from . import build, checks, deploy, docs, images, local, publish, registry, release, verify
from ._common import read_fleet_environment_as_text, tolerate_fleet_shapes

__all__ = ["namespace"]


def namespace() -> Collection:
    """The task namespace ``tasks.py`` exposes: image tasks at the root, ``registry.*`` below."""
    read_fleet_environment_as_text()
    tolerate_fleet_shapes()
    # What is still alive at exit goes with the process: without the collector's last full pass,
    # which costs 30-60 ms at the end of every command. Exit handlers run last-registered first,
    # so this one, registered as the tasks load, runs after the others (files closed, caches
    # written); the interpreter still flushes its streams.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    ns = Collection()
    for task in (
        images.list_,
        images.changed,
        images.plan,
        build.build,
        publish.run_tests,
        publish.tag,
        publish.push,
        publish.promote,
        verify.verify,
        release.release,
        checks.lint,
        checks.scan,
        deploy.helm_deploy,
        local.run,
        local.shell,
        local.act_,
        docs.docs,
    ):
        ns.add_task(task)
    ns.add_collection(Collection.from_module(registry, name="registry"))
    ns.configure({"fleet": DEFAULTS})
    return ns
