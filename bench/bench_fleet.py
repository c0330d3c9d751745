"""Time `invoke build --all --jobs 2` on a 12-image family against `docker buildx bake` with the
same graph, and `invoke --list` against a one-task tasks.py. Prints figures; asserts nothing.

    python bench/bench_fleet.py [--repeat 3] [--startup-repeat 10] [--skip-cold]
    python bench/bench_fleet.py --nodes [--repeat 3]

The family (made in a temporary git project, committed because the tool tags by commit) has
three levels: one base (FROM scratch plus a static busybox), three mids and eight leaves, each
child `FROM ${REGISTRY}/<parent>:latest`; every image's own layer writes 8 MB. Bake gets the
same graph as named contexts (`"<registry>/<parent>" = "target:<parent>"`) and loads its images
under tags of its own. Each scenario runs the two tools in turn (invoke, bake, invoke, bake…) in
this one process and prints medians:

- cold: the bench images removed and the build cache pruned before every run. The prune is
  `docker builder prune -af`, which empties the WHOLE build cache of the default builder, not
  only this benchmark's (acceptable on a CI or bench machine; `--skip-cold` leaves it alone);
- nothing changed: the same commit again;
- one leaf changed / one mid changed: one file in that image's context edited (to content never
  built before) and committed, before every run of either tool.

Only the CLI is driven (never the library), so the figures follow whatever `invoke build` does.
The package is byte-compiled first (``compileall`` of ``src/`` and ``tasks.py``), as an installed
package is: with ``PYTHONDONTWRITEBYTECODE`` set (some CI images and sandboxes set it), every run
would otherwise compile the whole package again, about 60 ms that no installed copy pays.
Needs Docker with buildx and busybox-static. Removes every image it made (by name prefix and by
label, so images bake untagged count too) and its temporary directories, also on Ctrl-C or
SIGTERM; after the cold scenario it prunes the build cache once more.

`--nodes` times, instead, the same family on BuildKit nodes: a one-node builder against a
two-node one (standalone buildkitd daemons on loopback, made buildx builders with the remote
driver, through `tests/buildkit.py`), each run `invoke build --all --builder B --push --registry R
--jobs 2` into a registry on loopback, interleaved, medians of --repeat. Every run is cold: the
builder's daemons restarted on new, empty state directories and the registry restarted empty (no
layers, no content keys). It prints the seconds, the ratio two-node / one-node and how many
images each node built. Needs root, buildkitd/buildctl and a registry binary (or Docker for a
`registry:2` container); no image lands in the local engine. Daemons, builders, the registry and
temporary directories are removed on exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import buildkit  # noqa: E402 - after the path tweak above
from tests.helpers import busybox, git, make_project  # noqa: E402

from imagefleet import localregistry  # noqa: E402

REGISTRY = "localhost:5000/fleet"
PREFIX = "benchfleet"  # every image name and tag this script makes starts with it
LABEL = "org.imagefleet.bench=fleet"  # ... and every image carries this, tagged or not
BASE = f"{PREFIX}-base"
MIDS = {f"{PREFIX}-mid-{i}": BASE for i in (1, 2, 3)}
LEAVES = {f"{PREFIX}-leaf-{i}": f"{PREFIX}-mid-{1 + (i - 1) // 3}" for i in range(1, 9)}
PARENT = {**MIDS, **LEAVES}  # 3 + 3 + 2 leaves under the three mids
NAMES = (BASE, *MIDS, *LEAVES)
TARGETS = {"cold": 1.0, "nothing changed": 0.5, "one leaf changed": 1.0}
STARTUP_TARGET_MS = 150.0
KILL_WAIT = 10.0  # seconds a stopped run gets to end its own builds before it is killed


def dockerfile(name: str, registry: str = REGISTRY) -> str:
    """The base: scratch plus busybox; a child: its parent through the registry, as real images."""
    if name == BASE:
        head = [
            "FROM scratch",
            "COPY busybox /bin/busybox",
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        ]
    else:
        head = [f"ARG REGISTRY={registry}", f"FROM ${{REGISTRY}}/{PARENT[name]}:latest"]
    return "\n".join(
        [
            *head,
            f"LABEL {LABEL}",
            f"COPY stamp /etc/{name}.stamp",
            f"RUN busybox dd if=/dev/urandom of=/{name}.data bs=1M count=8 2>/dev/null",
            "",
        ]
    )


def make_sources(root: Path, registry: str = REGISTRY) -> dict[str, Path]:
    """One directory per image: Dockerfile, image.yml, the stamp a change edits; busybox in base.
    Children name their parents under ``registry`` (``HOST/NAMESPACE``)."""
    box = busybox()
    if box is None:
        raise SystemExit("needs a static busybox (busybox-static)")
    sources = {}
    for name in NAMES:
        directory = root / name
        directory.mkdir(parents=True)
        (directory / "Dockerfile").write_text(dockerfile(name, registry))
        (directory / "image.yml").write_text(f'description: bench image {name}\nversion: "1.0.0"\n')
        (directory / "stamp").write_text("0\n")
        if name == BASE:
            (directory / "busybox").write_bytes(box.read_bytes())
            (directory / "busybox").chmod(0o755)
        sources[name] = directory
    return sources


def bake_file(project: Path, path: Path) -> Path:
    """The same graph for bake, outside the project so its tree stays clean."""
    lines = ['group "default" {', "  targets = [" + ", ".join(f'"{n}"' for n in NAMES) + "]", "}"]
    for name in NAMES:
        lines += [
            f'target "{name}" {{',
            f'  context = "{project / "images" / name}"',
            f'  tags = ["{PREFIX}-bake/{name}:latest"]',
        ]
        if parent := PARENT.get(name):  # bake matches a named context by repository, not tag
            lines.append(f'  contexts = {{ "{REGISTRY}/{parent}" = "target:{parent}" }}')
        lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``argv`` in its own process group; stop the whole group if we are interrupted.
    Returns what it printed on stdout."""
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # Ctrl-C reaches us only; we stop the group, then clean up
    ) as proc:
        try:
            output, errors = proc.communicate()
        except BaseException:
            stop_group(proc)
            raise
    if proc.returncode != 0:
        tail = "\n".join((output + errors).splitlines()[-30:])
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
    return output


def stop_group(proc: subprocess.Popen[Any], grace: float = KILL_WAIT) -> None:
    """Stop a run started in its own process group (pipes drained, if it has any)."""
    # SIGINT first, so an `invoke build` ends its own builds; then the whole group, hard.
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
            proc.communicate(timeout=wait)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        return


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False
    ).stdout.strip()


def remove_images(prefix: str = PREFIX, label: str = LABEL, passes: int = 2) -> None:
    """Every image a bench made: its tags by ``prefix``, and by ``label`` (bake's untagged ones);
    later passes for images an earlier one could not remove yet."""
    refs = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    ours = [r for r in refs if r.rsplit("/", 1)[-1].startswith(prefix) or r.startswith(prefix)]
    ids = docker("image", "ls", "-a", "-q", "--filter", f"label={label}").split()
    for _ in range(passes):
        if ours:
            docker("image", "rm", "-f", *ours)
        if ids:
            docker("image", "rm", "-f", *sorted(set(ids)))
        ids = docker("image", "ls", "-a", "-q", "--filter", f"label={label}").split()
        ours = []
        if not ids:
            return


def prune_cache() -> None:
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, check=False)


def byte_compile(*paths: Path) -> None:
    """Write the bytecode an installed package has (see the module docstring)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *map(str, paths)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def median(samples: list[float]) -> float:
    return statistics.median(samples)


@dataclass
class Pair:
    """Samples of the two contenders in one scenario, in seconds."""

    ours: list[float]
    theirs: list[float]


def interleaved(
    ours: Callable[[], object],
    theirs: Callable[[], object],
    repeat: int,
    before_each: Callable[[], None] = lambda: None,
) -> Pair:
    """Time ``ours`` and ``theirs`` in turn, ``before_each`` (untimed) before every run."""
    pair = Pair([], [])
    for _ in range(repeat):
        for func, samples in ((ours, pair.ours), (theirs, pair.theirs)):
            before_each()
            started = time.perf_counter()
            func()
            samples.append(time.perf_counter() - started)
    return pair


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the clean-up in ``finally`` blocks runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def builds(project: Path, bake: Path, options: argparse.Namespace) -> dict[str, Pair]:
    env = {
        "INVOKE_FLEET_ROOT": str(project),
        "INVOKE_FLEET_REGISTRY": REGISTRY,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
        ),
    }
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(REPO)]
    invoke_build = [*invoke, "build", "--all", "--jobs", "2"]

    def ours() -> None:
        run(invoke_build, project, env)

    def theirs() -> None:
        run(["docker", "buildx", "bake", "--progress=plain", "-f", str(bake), "--load"], project)

    def edit(name: str) -> Callable[[], None]:
        # Before every single run, with content never built before: both tools share one build
        # cache, so a change the other tool (or an earlier bench) already built would be free.
        def change() -> None:
            (project / "images" / name / "stamp").write_text(f"{time.time_ns()}\n")
            git(project, "commit", "-q", "-am", f"bench: change {name}")

        return change

    def cold() -> None:
        remove_images()
        prune_cache()

    results: dict[str, Pair] = {}
    if not options.skip_cold:
        results["cold"] = interleaved(ours, theirs, options.repeat, before_each=cold)
    ours()  # warm both (they share the build cache, not the images)
    theirs()
    results["nothing changed"] = interleaved(ours, theirs, options.repeat)
    results["one leaf changed"] = interleaved(
        ours, theirs, options.repeat, before_each=edit(f"{PREFIX}-leaf-8")
    )
    results["one mid changed"] = interleaved(
        ours, theirs, options.repeat, before_each=edit(f"{PREFIX}-mid-2")
    )
    return results


@dataclass
class NodeRuns:
    """Samples of each builder (one node, two nodes), in seconds, and per run the number of
    images each of its nodes built."""

    seconds: dict[str, list[float]]
    placed: dict[str, list[dict[str, int]]]


NODE_BUILDERS = {"one node": 1, "two nodes": 2}


def on_nodes(root: Path, options: argparse.Namespace) -> NodeRuns:
    """The family built cold on a one-node and on a two-node builder, in turn."""
    port = localregistry.free_port()
    address = f"localhost:{port}"
    fleet = f"{address}/fleet"
    project = make_project(
        root / "project", make_sources(root / "sources", fleet), with_busybox=False
    )
    env = {
        "INVOKE_FLEET_ROOT": str(project),
        "INVOKE_FLEET_REGISTRY": fleet,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
        ),
    }
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(REPO)]
    runs = NodeRuns({k: [] for k in NODE_BUILDERS}, {k: [] for k in NODE_BUILDERS})
    storage = root / "registry"
    with ExitStack() as stack:
        stack.enter_context(localregistry.running(storage, port))
        builders = {
            label: stack.enter_context(
                buildkit.nodes(count, address, parent=root, prefix=f"{PREFIX}-{count}")
            )
            for label, count in NODE_BUILDERS.items()
        }
        for _ in range(options.repeat):
            for label, nodes in builders.items():
                # Cold: no state on the daemons, nothing in the registry (no layers, no keys).
                nodes.wipe()
                localregistry.stop(storage)
                localregistry.start(storage, port)
                argv = [*invoke, "build", "--all", "--builder", nodes.name, "--push"]
                argv += ["--registry", fleet, "--jobs", "2", "--json"]
                started = time.perf_counter()
                printed = run(argv, project, env)
                runs.seconds[label].append(time.perf_counter() - started)
                outcomes = json.loads(printed)
                if {o["status"] for o in outcomes} != {"built"} or len(outcomes) != len(NAMES):
                    raise SystemExit(f"{label}: not every image was built: {outcomes}")
                placed = collections.Counter(
                    str(o["node"]).removeprefix(nodes.name) or str(o["node"]) for o in outcomes
                )
                runs.placed[label].append(dict(sorted(placed.items())))
    return runs


def report_nodes(runs: NodeRuns, options: argparse.Namespace) -> None:
    print(
        f"fleet of {len(NAMES)} images (1 base, {len(MIDS)} mids, {len(LEAVES)} leaves, 8 MB each)"
        f" on BuildKit nodes: invoke build --all --builder B --push --registry R --jobs 2,"
        f" cold each run (new daemon state, empty registry); medians of {options.repeat},"
        " interleaved"
    )
    print(f"{'builder':<12}{'seconds':>10}   images built per node")
    for label, samples in runs.seconds.items():
        seen = []  # the placement is stable, so one line per distinct split is expected
        for placed in runs.placed[label]:
            if placed not in seen:
                seen.append(placed)
        split = " | ".join(", ".join(f"node{n}: {c}" for n, c in p.items()) for p in seen)
        print(f"{label:<12}{median(samples):>8.2f} s   {split}")
    one, two = (median(runs.seconds[k]) for k in NODE_BUILDERS)
    print(f"{'ratio':<12}{two / one:>9.2f}x   two nodes / one node")
    print(
        f"note: both daemons run on this one machine ({os.cpu_count()} CPUs) and share its CPUs"
        " (with --jobs 2 per node, two nodes run up to 4 builds at once on them); the ratio shows"
        " the placement and hand-over overhead (parents pushed and pulled by digest), not what a"
        " second machine would add"
    )


def startup(repeat: int) -> Pair:
    """`invoke --list` of this repository against that of a one-task tasks.py, in seconds."""
    env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
        )
    }
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-startup-") as tmp:
        (Path(tmp) / "tasks.py").write_text(
            "from invoke import task\n\n\n@task\ndef hello(c):\n    print('hello')\n"
        )
        byte_compile(Path(tmp) / "tasks.py")
        listing = [sys.executable, "-m", "invoke", "--list"]
        return interleaved(
            lambda: run(listing, REPO, env), lambda: run(listing, Path(tmp), env), repeat
        )


def report(results: dict[str, Pair], start: Pair, options: argparse.Namespace) -> None:
    print(
        f"fleet of {len(NAMES)} images (1 base, {len(MIDS)} mids, {len(LEAVES)} leaves, 8 MB each):"
        f" invoke build --all --jobs 2 against docker buildx bake --load;"
        f" medians of {options.repeat}, interleaved"
    )
    print(
        f"{'scenario':<18}{'invoke':>10}{'bake':>10}{'ratio':>10}   {'target':<9}spread (min-max)"
    )
    for scenario, pair in results.items():
        ours, theirs = median(pair.ours), median(pair.theirs)
        target = f"<= {TARGETS[scenario]:.1f}x" if scenario in TARGETS else "-"
        spread = f"invoke {min(pair.ours):.2f}-{max(pair.ours):.2f} s, bake"
        spread += f" {min(pair.theirs):.2f}-{max(pair.theirs):.2f} s"
        row = f"{scenario:<18}{ours:>8.2f} s{theirs:>8.2f} s{ours / theirs:>9.2f}x"
        print(f"{row}   {target:<9}{spread}")
    ours, theirs = median(start.ours) * 1000, median(start.theirs) * 1000
    print(
        f"{'start-up':<18}{ours:>7.0f} ms{theirs:>7.0f} ms{ours - theirs:>+7.0f} ms"
        f"   <= +{STARTUP_TARGET_MS:.0f} ms"
    )
    print(
        f"start-up: invoke --list here against a one-task tasks.py, medians of"
        f" {options.startup_repeat}"
    )
    print("bytecode: src/ and both tasks.py compiled before timing, as an installed package is")


def nodes_main(options: argparse.Namespace) -> None:
    if (missing := buildkit.available()) is not None:
        raise SystemExit(f"--nodes needs {missing.removeprefix('no ')}")
    if os.geteuid() != 0:
        raise SystemExit("--nodes needs root (buildkitd runs as root here)")
    with terminated_as_interrupt(), tempfile.TemporaryDirectory(prefix=f"{PREFIX}-nodes-") as tmp:
        runs = on_nodes(Path(tmp), options)
    report_nodes(runs, options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument(
        "--startup-repeat", type=int, default=10, help="runs of each `invoke --list`"
    )
    parser.add_argument(
        "--skip-cold", action="store_true", help="skip the cold scenario (no build cache prune)"
    )
    parser.add_argument(
        "--nodes",
        action="store_true",
        help="instead: a one-node against a two-node BuildKit builder, cold (needs root)",
    )
    options = parser.parse_args()
    if options.repeat < 1 or options.startup_repeat < 1:
        parser.error("--repeat and --startup-repeat must be at least 1")
    byte_compile(REPO / "src", REPO / "tasks.py")
    if options.nodes:
        nodes_main(options)
        return
    if docker("buildx", "version") == "":
        raise SystemExit("needs docker with buildx")
    with terminated_as_interrupt(), tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        root = Path(tmp)
        project = make_project(root / "project", make_sources(root / "sources"), with_busybox=False)
        bake = bake_file(project, root / "docker-bake.hcl")
        try:
            results = builds(project, bake, options)
        finally:
            remove_images()
            if not options.skip_cold:
                prune_cache()  # the cold runs pruned it already; this takes the bench's own
        start = startup(options.startup_repeat)
    report(results, start, options)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the clean-up already ran in main's ``finally`` blocks
        raise SystemExit(
            "interrupted: what the bench made (images, or daemons, builders and registry) and its"
            " temporary directories removed"
        ) from None
