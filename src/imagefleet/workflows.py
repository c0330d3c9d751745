"""What the GitHub Actions workflows rely on: the per-wave matrix ``invoke plan --matrix`` writes,
and the publish workflow's wave jobs, checked against the depth of the fleet.

The publish workflow has one job per wave (``wave-1``, ``wave-2``, …), each a matrix over the
images of its wave; GitHub cannot add jobs at run time, so the number of wave jobs is fixed in the
file and must equal the longest chain of images (a parent, its child, the child's child…).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .graph import Graph

PUBLISH_WORKFLOW = Path(".github/workflows/publish.yml")
PLAN_JOB = "plan"
# Jobs that must wait for every wave (through the last one): every staged digest is scanned and
# signed, and tags move, only after all of them.
AFTER_WAVES = ("scan", "release", "sign", "promote")
# The marker of a wave with nothing to build: GitHub refuses a matrix without values, so the job
# of such a wave is skipped (`if: needs.plan.outputs.wave-N != '[]'`).
EMPTY = "[]"
_WAVE_JOB = re.compile(r"^wave-(\d+)$")


def wave_key(number: int) -> str:
    """The output key (and the job name) of wave ``number`` (1-based)."""
    return f"wave-{number}"


@dataclass(frozen=True)
class WaveMatrix:
    """The images of a run by wave, padded with empty waves to the depth of the whole fleet."""

    waves: tuple[tuple[str, ...], ...]  # non-empty, in build order
    deepest: int  # waves of the whole fleet: how many keys are written

    @property
    def depth(self) -> int:
        """How many waves have images to build."""
        return len(self.waves)

    def wave(self, number: int) -> tuple[str, ...]:
        """The images of wave ``number`` (1-based); empty past the last one."""
        return self.waves[number - 1] if number <= len(self.waves) else ()

    def outputs(self) -> dict[str, str]:
        """``$GITHUB_OUTPUT`` lines: ``wave-N`` (a JSON list for ``strategy.matrix``, ``[]``
        when empty) for every wave of the fleet, then ``depth``, ``any`` and ``images``."""
        values = {wave_key(n): json.dumps(list(self.wave(n))) for n in range(1, self.deepest + 1)}
        values["depth"] = str(self.depth)
        values["any"] = "true" if self.waves else "false"
        values["images"] = json.dumps([name for wave in self.waves for name in wave])
        return values

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``): the same keys, with lists and numbers as such."""
        return {
            **{wave_key(n): list(self.wave(n)) for n in range(1, self.deepest + 1)},
            "depth": self.depth,
            "deepest": self.deepest,
            "any": bool(self.waves),
            "images": [name for wave in self.waves for name in wave],
        }


def wave_matrix(graph: Graph, names: Sequence[str]) -> WaveMatrix:
    """The waves of ``names`` (their own order: an image waits only for selected parents, as a
    build does), and the depth of the whole fleet the workflow is written for."""
    waves = tuple(tuple(w) for w in graph.waves(names)) if names else ()
    return WaveMatrix(waves=waves, deepest=len(graph.waves()))


def deepest_chain(graph: Graph) -> list[str]:
    """One longest parent → child chain of the fleet (its length is the number of waves)."""
    best: dict[str, list[str]] = {}
    for wave in graph.waves():
        for name in wave:
            longest = max((best[p] for p in graph.parent_names(name)), key=len, default=[])
            best[name] = [*longest, name]
    return max(best.values(), key=len, default=[])


@dataclass(frozen=True)
class WaveJobs:
    """The wave jobs a workflow file has, and what is wrong with their shape."""

    count: int  # wave-1 … wave-<count> exist
    problems: tuple[str, ...]


def _mentions(value: Any, text: str) -> bool:
    return text in json.dumps(value)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def wave_jobs(workflow: Path) -> WaveJobs:
    """Read ``workflow``'s ``wave-N`` jobs: numbered from 1 without gaps, each an output of the
    plan job, each ``needs:`` the plan job and the previous wave, skipped when its wave is empty,
    a matrix over its own wave; scan, release, sign and promote wait for the last wave."""
    data = yaml.safe_load(workflow.read_text(encoding="utf-8")) or {}
    jobs: dict[str, Any] = data.get("jobs") or {}
    numbers = sorted(int(m[1]) for job in jobs if (m := _WAVE_JOB.match(job)))
    problems: list[str] = []
    count = 0
    for expected, number in enumerate(numbers, 1):
        if number != expected:
            problems.append(f"wave jobs skip {wave_key(expected)} (found {wave_key(number)})")
            break
        count = number
    for number in range(1, count + 1):
        key = wave_key(number)
        job = jobs[key]
        if key not in ((jobs.get(PLAN_JOB) or {}).get("outputs") or {}):
            problems.append(f"job {PLAN_JOB} must have the output {key}")
        wanted = [PLAN_JOB] + ([wave_key(number - 1)] if number > 1 else [])
        missing = [n for n in wanted if n not in _needs(job)]
        if missing:
            problems.append(f"job {key} must need {', '.join(missing)}")
        output = f"needs.{PLAN_JOB}.outputs.{key}"
        if output not in str(job.get("if", "")):
            problems.append(f"job {key} must be skipped when its wave is empty ({output})")
        if not _mentions((job.get("strategy") or {}).get("matrix"), output):
            problems.append(f"job {key}'s matrix must come from {output}")
    for name in AFTER_WAVES:
        if count and name in jobs and wave_key(count) not in _needs(jobs[name]):
            problems.append(f"job {name} must need the last wave, {wave_key(count)}")
    return WaveJobs(count, tuple(problems))


def check_waves(root: Path, graph: Graph) -> list[str]:
    """What is wrong between the publish workflow and the fleet (nothing when the repository has
    no publish workflow): each problem as one sentence that says what to do."""
    workflow = root / PUBLISH_WORKFLOW
    if not workflow.is_file():
        return []
    found = wave_jobs(workflow)
    chain = deepest_chain(graph)
    problems = list(found.problems)
    if len(chain) > found.count:
        problems.append(
            f"the fleet is {len(chain)} wave(s) deep ({' → '.join(chain)}) but "
            f"{PUBLISH_WORKFLOW.name} has {found.count} wave job(s): add "
            + ", ".join(wave_key(n) for n in range(found.count + 1, len(chain) + 1))
            + " (copy the last wave job, its number and `needs:` moved on by one; add it to the "
            f"plan job's outputs and to the `needs:` of {', '.join(AFTER_WAVES)})"
        )
    elif len(chain) < found.count:
        problems.append(
            f"{PUBLISH_WORKFLOW.name} has {found.count} wave jobs but the fleet is only "
            f"{len(chain)} deep: remove "
            + ", ".join(wave_key(n) for n in range(len(chain) + 1, found.count + 1))
            + " and point the promote job's `needs:` at the last wave left"
        )
    return problems
