"""Build the fixture family (base → middle → two leaves, plus one unrelated image) from scratch:
`invoke build --all` with one and two jobs, against `docker buildx bake` with the same graph
(contexts = target:parent) as the baseline, all in this process. Prints figures; asserts nothing.

    python bench/bench_build.py [--repeat 3]

Needs a Docker engine with buildx and busybox-static; removes every tag it creates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import FIXTURES, make_project  # noqa: E402 - after the path tweak above

REGISTRY = "localhost:5000/fleet"
# The fixture family under names of its own, so the tests' images are never touched.
FAMILY = ("bench-base", "bench-middle", "bench-leaf-a", "bench-leaf-b", "bench-solo")
PARENTS = {
    "bench-middle": ["bench-base"],
    "bench-leaf-a": ["bench-middle"],
    "bench-leaf-b": ["bench-middle", "bench-base"],
}


def bake_file(project: Path) -> Path:
    """The same graph for bake: each parent reference is a named context on its target."""
    lines = ['group "default" {', f"  targets = {list(FAMILY)!r}".replace("'", '"'), "}"]
    for name in FAMILY:
        contexts = ", ".join(  # bake matches a named context by repository, not the tag
            f'"{REGISTRY}/{parent}" = "target:{parent}"' for parent in PARENTS.get(name, [])
        )
        lines += [
            f'target "{name}" {{',
            f'  context = "images/{name}"',
            f'  tags = ["bench-bake/{name}:latest"]',
            *([f"  contexts = {{ {contexts} }}"] if contexts else []),
            "}",
        ]
    path = project / "docker-bake.hcl"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(func: Callable[[], None], repeat: int, reset: Callable[[], None]) -> float:
    samples = []
    for _ in range(repeat):
        reset()
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        argv, cwd=cwd, check=True, capture_output=True, env={**os.environ, **(env or {})}
    )


def remove_tags() -> None:
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ours = [r for r in listed if r.rsplit(":", 1)[0].rsplit("/", 1)[-1] in FAMILY]
    if ours:
        subprocess.run(["docker", "image", "rm", "-f", *ours], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("needs docker with buildx")
    with tempfile.TemporaryDirectory(prefix="imagefleet-bench-") as tmp:
        sources = Path(tmp) / "sources"
        for source in (FIXTURES / "family").iterdir():
            target = sources / source.name.replace("fx-", "bench-")
            shutil.copytree(source, target)
            for file in target.rglob("*"):
                if file.is_file() and file.suffix in ("", ".yml", ".yaml", ".py"):
                    file.write_text(file.read_text().replace("fx-", "bench-"))
        project = make_project(Path(tmp) / "family", {p.name: p for p in sources.iterdir()})
        bake = bake_file(project)
        env = {"INVOKE_FLEET_ROOT": str(project), "INVOKE_FLEET_REGISTRY": REGISTRY}
        invoke = [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(REPO),
            "build",
            "--all",
            "--no-cache",
        ]

        def prune() -> None:
            remove_tags()  # --no-cache makes every build cold; the builder cache is left alone

        try:
            baseline = timed(
                lambda: run(
                    ["docker", "buildx", "bake", "--no-cache", "-f", str(bake), "--load"], project
                ),
                options.repeat,
                prune,
            )
            one = timed(lambda: run([*invoke, "--jobs", "1"], project, env), options.repeat, prune)
            two = timed(lambda: run([*invoke, "--jobs", "2"], project, env), options.repeat, prune)
        finally:
            remove_tags()
    print(
        f"fixture family: {len(FAMILY)} images, 3 levels, cold builds, median of {options.repeat}"
    )
    print(f"docker buildx bake (baseline)   {baseline:6.2f} s   1.00x")
    print(f"invoke build --all --jobs 1     {one:6.2f} s   {one / baseline:4.2f}x")
    print(f"invoke build --all --jobs 2     {two:6.2f} s   {two / baseline:4.2f}x")


if __name__ == "__main__":
    main()
