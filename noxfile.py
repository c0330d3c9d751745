"""Nox sessions: one-liners over private helpers; dependencies come from pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "test"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str) -> None:
    session.install("-e", ".")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


def _pytest(session: nox.Session, *, marker: str | None = None) -> None:
    _install(session, "test")
    args = ["-m", marker] if marker else []
    # Integration tests need Docker; outside CI they skip with a reason, in CI they must run.
    session.run("pytest", *args, *session.posargs, env={"PYTHONUNBUFFERED": "1"})


@nox.session
def test(session: nox.Session) -> None:
    """Run the whole test suite (unit, integration on the real engine and registry)."""
    _pytest(session)


@nox.session
def unit(session: nox.Session) -> None:
    """Run only the fast unit tests (no Docker, Kubernetes or Node.js needed)."""
    _pytest(session, marker="not integration and not k8s and not node")


@nox.session
def integration(session: nox.Session) -> None:
    """Run the tests on the real Docker engine (each starts its own registry on loopback)."""
    _pytest(session, marker="integration")


@nox.session
def k8s(session: nox.Session) -> None:
    """Run the helm-deploy tests against a real Kubernetes API ($KUBECONFIG, or started here)."""
    _pytest(session, marker="k8s")


@nox.session
def node(session: nox.Session) -> None:
    """Run the tests that need Node.js and npm (Backstage's own catalog validation)."""
    _pytest(session, marker="node")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff (lint and format), the workflows with actionlint."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # GitHub's workflow schema ships inside check-jsonschema: this works offline.
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    # Expressions, job outputs, matrices, action inputs and (shellcheck on PATH) run: scripts.
    session.run("actionlint", *workflows)
    # Needs only the Compose v2 plugin, no daemon: every service, profiles included, is checked.
    session.run("docker", "compose", "--profile", "*", "config", "--quiet", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check src, tests, tasks.py and noxfile.py with mypy --strict."""
    _install(session, "lint")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Check the generated pages are current, then build the TechDocs site strictly."""
    _install(session, "docs")
    # Stale generated pages or catalog entities fail here, with the files and `invoke docs`.
    session.run("invoke", "docs", "--check")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session(venv_backend="none")
def catalog(session: nox.Session) -> None:
    """Validate catalog-info.yml with Backstage's own @backstage/catalog-model (npm ci)."""
    with session.chdir("backstage"):
        # The committed lockfile pins the model, the YAML parser and the vendored Mermaid.
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
        session.run("node", "validate-catalog.mjs", "../catalog-info.yml", external=True)
        session.run("node", "vendor-mermaid.mjs", "--check", external=True)


def _bench(session: nox.Session) -> None:
    _install(session)
    args = list(session.posargs)
    # `--scale` runs bench_scale alone (minutes per run, and it prunes the build cache), with the
    # flags after it; its own `--fleet N` comes after `--scale`, so it is not bench_fleet's marker.
    if "--scale" in args:
        session.run("python", "bench/bench_scale.py", *args[args.index("--scale") + 1 :])
        return
    # bench_changed keeps the posargs it always had; bench_fleet's flags (--repeat, --skip-cold,
    # --nodes) come after `--fleet`, as both scripts have a --repeat of their own.
    split = args.index("--fleet") if "--fleet" in args else len(args)
    session.run("python", "bench/bench_changed.py", *args[:split])
    session.run("python", "bench/bench_build.py")
    session.run("python", "bench/bench_fleet.py", *args[split + 1 :])


@nox.session
def bench(session: nox.Session) -> None:
    """Print benchmark figures (never asserted): `invoke changed`, builds and start-up vs bake.

    `nox -s bench -- [bench_changed flags] [--fleet --repeat N --skip-cold | --fleet --nodes]`
    (`--nodes`: one against two BuildKit nodes instead of bake; needs root), or alone the
    1,000-image fleet against bake: `nox -s bench -- --scale [--fleet N --bake-sizes 100,300]`
    """
    _bench(session)
