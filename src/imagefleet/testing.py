"""Run an image's tests: its ``tests/structure.yaml`` (container-structure-test) and its
``tests/test_*.py`` files (pytest, with :mod:`imagefleet.pytest_plugin`), plus its ancestors' tests,
since a child must still pass everything its parents promise. No container outlives a run.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from . import signals, tools
from .catalog import Image
from .engine import Engine
from .errors import (
    ContainerStartError,
    PytestRunError,
    StructureTestConfigError,
    StructureTestNoReportError,
    StructureTestRunError,
    last_line,
)
from .graph import Graph

LOGGER = logging.getLogger(__name__)

# Every container a pytest run starts carries this label, with the run's id that the plugin reads
# from the environment, so the runner can remove whatever a crash or Ctrl-C left behind.
SESSION_LABEL = "imagefleet.test-session"
SESSION_ENV = "FLEET_TEST_SESSION"
# Where the plugin writes the engine's words when a test container cannot start (one per line).
START_ERRORS_ENV = "FLEET_TEST_START_ERRORS"

CST = "container-structure-test"
Kind = Literal["structure", "pytest"]


@dataclass(frozen=True)
class Suite:
    """Tests written for ``source`` (the image itself or an ancestor), run against an image."""

    source: str
    kind: Kind
    files: tuple[Path, ...]


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of one suite against one image."""

    __test__ = False

    image: str
    source: str
    kind: Kind
    passed: int
    failures: tuple[str, ...]
    seconds: float
    report: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "image": self.image,
            "source": self.source,
            "kind": self.kind,
            "passed": self.passed,
            "failed": list(self.failures),
            "seconds": round(self.seconds, 2),
            "report": self.report,
        }


def suites(image: Image, graph: Graph) -> list[Suite]:
    """The ancestors' suites (root first), then the image's own."""
    lineage = [
        *sorted(graph.ancestors(image.name), key=lambda n: len(graph.ancestors(n))),
        image.name,
    ]
    found: list[Suite] = []
    for name in lineage:
        image = graph.images[name]
        if image.structure_tests.is_file():
            found.append(Suite(name, "structure", (image.structure_tests,)))
        files = image.pytest_files
        if files:
            found.append(Suite(name, "pytest", files))
    return found


_CONFIG_ERROR = "error parsing config file"


def _config_errors(path: Path) -> list[str]:
    """container-structure-test reports a config it cannot parse as a nameless failed case."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own child process wrote it
    return [
        " ".join((failure.text or "").split())
        for case in root.iter("testcase")
        for failure in case.iter("failure")
        if (failure.text or "").startswith(_CONFIG_ERROR)
    ]


# container-structure-test's words when the engine cannot create or start a test's container
# ("Error creating container: API error (500): … exec format error"), inside a failed case.
_START_FAILED = re.compile(r"error creating container:?\s*(.*)", re.IGNORECASE | re.DOTALL)
# ... except a command the image does not have: that is what a structure test checks (a missing
# tool), so it stays a failed check (exit 7), not an engine problem.
_MISSING_COMMAND = re.compile(
    r'exec: "[^"]*": (executable file not found|stat [^:]*: no such file or directory)',
    re.IGNORECASE,
)


def _start_errors(path: Path) -> list[str]:
    """The engine's reasons for containers container-structure-test could not start."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own child process wrote it
    found = []
    for case in root.iter("testcase"):
        for failure in (*case.iter("failure"), *case.iter("error")):
            match = _START_FAILED.search(failure.text or failure.get("message") or "")
            if match and not _MISSING_COMMAND.search(match[1]):
                found.append(" ".join(match[1].split())[:300] or "no reason given")
    return found


def _junit(path: Path) -> tuple[int, tuple[str, ...]]:
    """(passed, names of failed test cases) from a JUnit XML report."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own child process wrote it
    passed, failed = 0, []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
        elif case.find("skipped") is None:
            passed += 1
    return passed, tuple(failed)


def _run_cst(
    ref: str, configs: tuple[Path, ...], report: Path, *, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``container-structure-test test`` of ``configs`` against ``ref``, JUnit to ``report``."""
    argv = [
        tools.require(CST, CST),
        "test",
        "--image",
        ref,
        "--output",
        "junit",
        "--test-report",
        str(report),
        "--no-color",
    ]
    for config in configs:
        argv += ["--config", str(config)]
    return signals.run(argv, timeout=timeout)


def run_structure(ref: str, suite: Suite, report: Path) -> tuple[int, tuple[str, ...]]:
    """Run one structure suite against ``ref``: (passed, names of failed checks)."""
    done = _run_cst(ref, suite.files, report)
    if not report.is_file():
        raise StructureTestRunError(ref=ref, reason=last_line(done.stderr), config=suite.files[0])
    errors = _config_errors(report)
    if errors:
        raise StructureTestConfigError(files=", ".join(map(str, suite.files)), problem=errors[0])
    start_errors = _start_errors(report)
    if start_errors:
        raise ContainerStartError(ref=ref, reason=start_errors[0])
    return _junit(report)


def config_errors(config: Path, probe: str) -> list[str]:
    """What container-structure-test's own strict parser says about ``config`` (empty: valid).

    The checks themselves run against ``probe`` (any local image) and may fail; only parse
    errors are returned.
    """
    with tempfile.TemporaryDirectory(prefix="imagefleet-cst-") as tmp:
        report = Path(tmp) / "report.xml"
        _run_cst(probe, (config,), report, timeout=300)
        if not report.is_file():
            raise StructureTestNoReportError(config=config, probe=probe)
        return _config_errors(report)


def _pytest(
    ref: str, suite: Suite, report: Path, session: str, scratch: Path
) -> tuple[int, tuple[str, ...]]:
    config = scratch / f"{report.stem}.ini"
    start_errors = scratch / f"{report.stem}.start-errors"
    start_errors.unlink(missing_ok=True)
    # A config of our own: the image's tests must not inherit this repository's pytest settings.
    config.write_text("[pytest]\n")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *map(str, suite.files),
        "-c",
        str(config),
        "--rootdir",
        str(suite.files[0].parent),
        "-p",
        "imagefleet.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--fleet-image",
        ref,
        "--junitxml",
        str(report),
        "-q",
    ]
    # On a signal pytest gets SIGINT and time to end its tests: its fixtures remove their
    # containers (and the runner removes what a kill left, by the session's label).
    done = signals.run(
        argv, env={**os.environ, SESSION_ENV: session, START_ERRORS_ENV: str(start_errors)}
    )
    LOGGER.debug("pytest for %s:\n%s%s", ref, done.stdout, done.stderr)
    if start_errors.is_file() and (reasons := start_errors.read_text().splitlines()):
        raise ContainerStartError(ref=ref, reason=reasons[0])
    if not report.is_file():
        raise PytestRunError(ref=ref, reason=last_line(done.stdout))
    return _junit(report)


def run(
    engine: Engine,
    image: Image,
    ref: str,
    graph: Graph,
    *,
    junit_dir: Path | None = None,
    on_suite: Callable[[SuiteResult], None] | None = None,
) -> list[SuiteResult]:
    """Run every suite for ``image`` against ``ref``; containers are removed even on Ctrl-C or
    SIGTERM."""
    session = uuid.uuid4().hex
    results: list[SuiteResult] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="imagefleet-test-") as tmp:
        try:
            for suite in suites(image, graph):
                name = f"{image.name}--{suite.source}-{suite.kind}.xml"
                report = (junit_dir or Path(tmp)) / name
                report.parent.mkdir(parents=True, exist_ok=True)
                report.unlink(missing_ok=True)
                started = time.monotonic()
                if suite.kind == "structure":
                    passed, failures = run_structure(ref, suite, report)
                else:
                    passed, failures = _pytest(ref, suite, report, session, Path(tmp))
                result = SuiteResult(
                    image.name,
                    suite.source,
                    suite.kind,
                    passed,
                    failures,
                    time.monotonic() - started,
                    str(report) if junit_dir else None,
                )
                results.append(result)
                if on_suite:
                    on_suite(result)
        except BaseException:
            # container-structure-test labels nothing and, stopped, leaves its container: those
            # of this image since the run began go (a stranger's, started meanwhile, too).
            engine.remove_containers(image=ref, since=started)
            raise
        finally:
            engine.remove_containers(label=f"{SESSION_LABEL}={session}")
    return results
