"""Fleet scale: `invoke build --all --jobs 2` on 1,000 synthetic images, and bake on the same.

Times invoke on a synthetic fleet of `--fleet` images, and `docker buildx bake` on the same graph
at growing sizes. Prints figures; asserts nothing.

    python bench/bench_scale.py [--fleet 1000] [--bake-sizes 100,300,1000] [--skip-bake]

The fleet (a temporary git project, committed because the tool tags by commit) has three levels:
about 1 % bases (FROM scratch plus a static busybox), 9 % mids and 90 % leaves (10 bases, 90 mids
and 900 leaves at 1,000), each child `FROM ${REGISTRY}/<parent>:latest` like the fixtures, and
every image's own layer one small `COPY` of its own file (no RUN). Figures:

- invoke, cold: the bench images removed, the file-digest cache emptied and the build cache
  pruned first. The prune is `docker builder prune -af`, which empties the WHOLE build cache of
  the default builder, not only this benchmark's (fine on a CI or bench machine, not on a
  workstation whose cache you want to keep);
- invoke, nothing changed: the same commit again (median of 3);
- invoke, one mid changed: one mid's file edited and committed; how many images the run rebuilt
  comes from the statuses of `--json`;
- for each run, peak RSS from `getrusage`: invoke's own (`RUSAGE_SELF`, written at its exit by a
  three-line launcher around `python -m invoke`), and with its children (`wait4` on the process:
  the largest resident set among invoke and the docker CLIs it ran);
- dangling images (`docker images -f dangling=true`) before and after the runs, on the whole engine
  and among this benchmark's (by label);
- `invoke changed --base HEAD~1` and `invoke plan --all --json` wall times, medians of 3;
- bake, cold, at each of `--bake-sizes` (a size is a parent-closed part of the fleet with the same
  three levels), stopping at the first size it fails at twice in a row (its error line is
  printed); nothing changed at the largest size it built. Bake's cold runs prune the same way.

Only the CLI is driven, as in bench_fleet. Needs Docker with buildx and busybox-static. Removes
every image it made (by name prefix and by label) and its temporary directories, also on Ctrl-C or
SIGTERM, and prunes the build cache once more at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import bench_fleet  # noqa: E402 - after the path tweak above
from bench.bench_fleet import (  # noqa: E402
    docker,
    prune_cache,
    stop_group,
    terminated_as_interrupt,
)
from tests.helpers import busybox, git, make_project  # noqa: E402

REGISTRY = "localhost:5000/scale"
PREFIX = "benchscale"  # every image name and tag this script makes starts with it
LABEL = "org.imagefleet.bench=scale"  # ... and every image carries this, tagged or not
# `python -m invoke` that also writes its own peak RSS (KiB) where $BENCH_SCALE_RSS says, at exit.
LAUNCHER = (
    "import atexit, os, resource, runpy\n"
    "def rss():\n"
    "    with open(os.environ['BENCH_SCALE_RSS'], 'w') as f:\n"
    "        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "atexit.register(rss)\n"
    "runpy.run_module('invoke', run_name='__main__', alter_sys=True)\n"
)
KILL_WAIT = 30.0  # seconds a stopped run gets to end its own builds before it is killed
REPEAT = 3  # runs of the quick commands (changed, plan)


@dataclass(frozen=True)
class Fleet:
    """The synthetic graph: names in an order whose every prefix is closed under parents."""

    names: tuple[str, ...]
    parent: dict[str, str]  # child -> parent; bases have none
    bases: int
    mids: int
    leaves: int

    def part(self, size: int) -> tuple[str, ...]:
        """The first ``size`` images: every base, then mids each followed by its leaves."""
        return self.names[:size]

    def children(self, name: str) -> list[str]:
        return [c for c, p in self.parent.items() if p == name]


def fleet(size: int) -> Fleet:
    bases = max(1, round(size / 100))
    mids = max(1, round(size * 0.09))
    leaves = size - bases - mids
    base_names = [f"{PREFIX}-base-{i:02d}" for i in range(bases)]
    parent: dict[str, str] = {}
    names = list(base_names)
    for m in range(mids):
        mid = f"{PREFIX}-mid-{m:03d}"
        parent[mid] = base_names[m % bases]
        names.append(mid)
        for leaf in range(m, leaves, mids):  # leaves are dealt to the mids in turn
            name = f"{PREFIX}-leaf-{leaf:04d}"
            parent[name] = mid
            names.append(name)
    return Fleet(tuple(names), parent, bases, mids, leaves)


def dockerfile(name: str, parent: str | None) -> str:
    """A base: scratch plus busybox; a child: its parent through the registry, as real images."""
    if parent is None:
        head = ["FROM scratch", "COPY busybox /bin/busybox"]
    else:
        head = [f"ARG REGISTRY={REGISTRY}", f"FROM ${{REGISTRY}}/{parent}:latest"]
    return "\n".join([*head, f"LABEL {LABEL}", f"COPY stamp /etc/{name}.stamp", ""])


def make_sources(root: Path, graph: Fleet) -> dict[str, Path]:
    """A directory per image: Dockerfile, image.yml, the stamp a change edits; busybox in bases."""
    box = busybox()
    if box is None:
        raise SystemExit("needs a static busybox (busybox-static)")
    sources = {}
    for name in graph.names:
        directory = root / name
        directory.mkdir(parents=True)
        parent = graph.parent.get(name)
        (directory / "Dockerfile").write_text(dockerfile(name, parent))
        (directory / "image.yml").write_text(f'description: bench image {name}\nversion: "1.0.0"\n')
        (directory / "stamp").write_text(f"{name}\n")
        if parent is None:
            shutil.copy2(box, directory / "busybox")
        sources[name] = directory
    return sources


def bake_file(project: Path, graph: Fleet, names: tuple[str, ...], path: Path) -> Path:
    """``names`` of the graph for bake, outside the project so its tree stays clean."""
    lines = ['group "default" {', "  targets = [" + ", ".join(f'"{n}"' for n in names) + "]", "}"]
    for name in names:
        lines += [
            f'target "{name}" {{',
            f'  context = "{project / "images" / name}"',
            f'  tags = ["{PREFIX}-bake/{name}:latest"]',
        ]
        if parent := graph.parent.get(name):  # bake matches a named context by repository
            lines.append(f'  contexts = {{ "{REGISTRY}/{parent}" = "target:{parent}" }}')
        lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Run:
    """A finished command: exit code, wall time, peak RSS (KiB: its own where the launcher told,
    and with its children), its output."""

    code: int
    seconds: float
    own_rss_kib: int | None
    max_rss_kib: int
    stdout: str
    stderr: str

    def failure(self) -> str:
        """The line that says why it failed: the last error line, else the last line."""
        lines = [line.strip() for line in (self.stderr + self.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return (errors or lines or [f"exit {self.code}"])[-1]


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` in its own process group and reap it with ``wait4`` for its own rusage; stop
    the whole group if we are interrupted."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix=f"{PREFIX}-rss-") as rss_dir,
    ):
        rss = Path(rss_dir) / "rss"
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {}), "BENCH_SCALE_RSS": str(rss)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the group, then clean up
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            stop_group(proc, KILL_WAIT)
            raise
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Run(
            proc.returncode,
            seconds,
            int(rss.read_text()) if rss.exists() else None,
            usage.ru_maxrss,  # KiB on Linux
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def checked(result: Run, what: str) -> Run:
    if result.code != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise SystemExit(f"{what} exited {result.code}:\n{tail}")
    return result


def remove_images() -> None:
    """Every image this script made (three passes: a thousand images take longer to go)."""
    bench_fleet.remove_images(PREFIX, LABEL, passes=3)


def dangling(*, ours: bool = False) -> int:
    label = ["--filter", f"label={LABEL}"] if ours else []
    return len(docker("images", "-q", "--filter", "dangling=true", *label).split())


@dataclass
class Figures:
    """Everything the report prints."""

    graph: Fleet
    builds: dict[str, Run] = field(default_factory=dict)  # scenario -> invoke build run
    changed_mid: str = ""
    quick: dict[str, tuple[float, Run]] = field(default_factory=dict)  # command -> median s, run
    changed_count: int = 0
    dangling: dict[str, tuple[int, int]] = field(default_factory=dict)  # moment -> (all, ours)
    bake: list[tuple[int, str, str]] = field(default_factory=list)  # size, cold, nothing changed
    bake_failure: str = ""
    # one mid changed, in turn (median s): invoke build --all, and bake of only what it rebuilt
    mid_pair: tuple[float, float, int] | None = None  # invoke, bake, images rebuilt


def statuses(result: Run) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in json.loads(result.stdout):
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    return counts


def invoke_runs(project: Path, cache: Path, figures: Figures) -> None:
    """Cold, nothing changed and one mid changed with invoke; then the quick commands."""
    env = {
        "INVOKE_FLEET_ROOT": str(project),
        "INVOKE_FLEET_REGISTRY": REGISTRY,
        "XDG_CACHE_HOME": str(cache),  # the file-digest cache, emptied for the cold run
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
        ),
    }
    invoke = [sys.executable, "-c", LAUNCHER, "--search-root", str(REPO)]
    build = [*invoke, "build", "--all", "--jobs", "2", "--json"]

    def record(moment: str) -> None:
        figures.dangling[moment] = (dangling(), dangling(ours=True))

    record("before")
    remove_images()
    shutil.rmtree(cache, ignore_errors=True)
    prune_cache()
    figures.builds["cold"] = checked(run(build, project, env), "invoke build (cold)")
    # The median of three: the first run after a cold build meets an engine still settling it.
    again = [checked(run(build, project, env), "invoke build (again)") for _ in range(REPEAT)]
    figures.builds["nothing changed"] = sorted(again, key=lambda r: r.seconds)[REPEAT // 2]
    graph = figures.graph
    mid = max(
        (n for n in graph.names if "-mid-" in n),
        key=lambda n: (min(len(graph.children(n)), 10), -graph.names.index(n)),
    )
    figures.changed_mid = mid
    (project / "images" / mid / "stamp").write_text(f"{mid} {time.time_ns()}\n")
    git(project, "commit", "-q", "-am", f"bench: change {mid}")
    figures.builds["one mid changed"] = checked(
        run(build, project, env), "invoke build (one mid changed)"
    )
    record("after invoke")
    figures.mid_pair = mid_overhead(project, build, env, figures, mid)
    for label, argv in (
        ("invoke changed --base HEAD~1", [*invoke, "changed", "--base", "HEAD~1", "--json"]),
        ("invoke plan --all --json", [*invoke, "plan", "--all", "--json"]),
    ):
        runs = [checked(run(argv, project, env), label) for _ in range(REPEAT)]
        figures.quick[label] = (statistics.median(r.seconds for r in runs), runs[-1])
        if label.startswith("invoke changed"):
            figures.changed_count = len(json.loads(runs[-1].stdout)["images"])


def mid_overhead(
    project: Path, build: list[str], env: dict[str, str], figures: Figures, mid: str
) -> tuple[float, float, int]:
    """What a one-mid run costs beyond its builds: `invoke build --all` against bake of only the
    images it rebuilds (the mid and its children, the mid's parent as a cached `target:`), each
    after its own edit of the mid (content neither built before), in turn, medians of 3."""
    graph = figures.graph
    rebuilt = (mid, *graph.children(mid))
    names = (graph.parent[mid], *rebuilt)
    path = bake_file(project, graph, names, project.parent / "bake-mid.hcl")
    text = path.read_text().splitlines()
    text[1] = "  targets = [" + ", ".join(f'"{n}"' for n in rebuilt) + "]"  # not the parent
    path.write_text("\n".join(text) + "\n")
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(REPEAT):
        for times, argv, what in (
            (ours, build, "invoke build (one mid changed)"),
            (
                theirs,
                ["docker", "buildx", "bake", "--progress=plain", "--load", "-f", str(path)],
                "bake (one mid changed)",
            ),
        ):
            (project / "images" / mid / "stamp").write_text(f"{mid} {time.time_ns()}\n")
            git(project, "commit", "-q", "-am", f"bench: change {mid}")
            times.append(checked(run(argv, project, env if times is ours else None), what).seconds)
    return statistics.median(ours), statistics.median(theirs), len(rebuilt)


def bake_runs(project: Path, tmp: Path, sizes: list[int], figures: Figures) -> None:
    """Bake cold at each size (one retry), nothing changed at the largest size it built."""
    graph = figures.graph
    command = ["docker", "buildx", "bake", "--progress=plain", "--load", "-f"]
    largest: Path | None = None
    largest_size = 0
    for size in sizes:
        path = bake_file(project, graph, graph.part(size), tmp / f"bake-{size}.hcl")
        attempts: list[Run] = []
        for _ in range(2):  # bake on a busy engine fails now and then: once more, said so
            remove_images()
            prune_cache()
            attempts.append(run([*command, str(path)], project))
            if attempts[-1].code == 0:
                break
        cold = "; ".join(
            f"{r.seconds:.1f} s" if r.code == 0 else f"failed after {r.seconds:.0f} s"
            for r in attempts
        )
        if attempts[-1].code != 0:
            figures.bake.append((size, cold, "-"))
            figures.bake_failure = f"{size} images: {attempts[-1].failure()}"
            first = attempts[0].failure()
            if first[:50] != attempts[-1].failure()[:50]:  # not only another job id
                figures.bake_failure += f" (first attempt: {first})"
            break
        if attempts[0].code != 0:
            figures.bake_failure = f"{size} images, first attempt: {attempts[0].failure()}"
        figures.bake.append((size, cold, ""))
        largest, largest_size = path, size
    if largest is not None:
        again = run([*command, str(largest)], project)
        text = f"{again.seconds:.1f} s" if again.code == 0 else f"failed: {again.failure()}"
        figures.bake = [(s, c, text if s == largest_size else n) for s, c, n in figures.bake]
    figures.dangling["after bake"] = (dangling(), dangling(ours=True))


def report(figures: Figures) -> None:
    g = figures.graph
    print(
        f"fleet of {len(g.names)} images: {g.bases} base(s) FROM scratch + busybox,"
        f" {g.mids} mid(s), {g.leaves} leaves; one small COPY each"
    )
    print("invoke build --all --jobs 2 --json; peak RSS: invoke's own / with the processes it ran")
    print(f"  {'scenario':<40}{'wall':>10}{'peak RSS':>18}   statuses")
    for scenario, result in figures.builds.items():
        label = f"{scenario} ({figures.changed_mid})" if scenario == "one mid changed" else scenario
        counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses(result).items()))
        print(f"  {label:<40}{result.seconds:>8.1f} s{_rss(result):>18}   {counts}")
    if figures.mid_pair:
        ours, theirs, count = figures.mid_pair
        print(
            f"  one mid changed, in turn (medians of {REPEAT}): invoke {ours:.1f} s, bake of only"
            f" its {count} images {theirs:.1f} s: {ours - theirs:+.1f} s beyond the builds"
        )
    for label, (seconds, result) in figures.quick.items():
        extra = f"   {figures.changed_count} images" if "changed" in label else ""
        print(f"  {label:<40}{seconds:>8.2f} s{_rss(result):>18}{extra}")
    print(f"  (changed and plan: medians of {REPEAT}; peak RSS of the last run)")
    moments = ", ".join(f"{m} {a} ({o} ours)" for m, (a, o) in figures.dangling.items())
    print(f"dangling images on the engine (ours by label): {moments}")
    if figures.bake:
        print("docker buildx bake --load (cold: images removed, build cache pruned)")
        print(f"  {'images':>6}   {'cold':<40}nothing changed")
        for size, cold, again in figures.bake:
            print(f"  {size:>6}   {cold:<40}{again or '-'}")
        if figures.bake_failure:
            print(f"  bake failed at {figures.bake_failure}")


def _rss(result: Run) -> str:
    own = "?" if result.own_rss_kib is None else f"{result.own_rss_kib / 1024:.0f}"
    return f"{own} / {result.max_rss_kib / 1024:.0f} MiB"


def sizes(text: str, fleet_size: int) -> list[int]:
    values = sorted({min(int(s), fleet_size) for s in text.split(",") if s.strip()})
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=1000, help="images in the fleet (>= 3)")
    parser.add_argument(
        "--bake-sizes",
        default="100,300,1000",
        help="comma-separated fleet parts to bake cold, smallest first (capped at --fleet)",
    )
    parser.add_argument("--skip-bake", action="store_true", help="time invoke only")
    options = parser.parse_args()
    if options.fleet < 3:
        parser.error("--fleet must be at least 3")
    try:
        bake_sizes = sizes(options.bake_sizes, options.fleet)
    except (ValueError, argparse.ArgumentTypeError) as error:
        parser.error(f"--bake-sizes: {error}")
    if docker("buildx", "version") == "":
        raise SystemExit("needs docker with buildx")
    graph = fleet(options.fleet)
    figures = Figures(graph)
    with terminated_as_interrupt(), tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        root = Path(tmp)
        project = make_project(
            root / "project", make_sources(root / "sources", graph), with_busybox=False
        )
        try:
            invoke_runs(project, root / "cache", figures)
            if not options.skip_bake:
                bake_runs(project, root, bake_sizes, figures)
        finally:
            remove_images()
            prune_cache()  # the cold runs pruned it already; this takes the bench's own
    report(figures)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the clean-up already ran in main's ``finally`` blocks
        raise SystemExit("interrupted: bench images and temporary directories removed") from None
