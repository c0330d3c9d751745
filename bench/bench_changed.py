"""Time `invoke changed` on a synthetic repository of 500 image directories.

Prints figures, never asserts them. The baseline, measured in the same process, is the floor any
change detector pays: one `git diff --name-only` between the merge-base and HEAD.

    python bench/bench_changed.py [--images 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from imagefleet.catalog import discover  # noqa: E402 - after the path tweak above
from imagefleet.changes import detect  # noqa: E402
from imagefleet.graph import Graph  # noqa: E402
from imagefleet.reference import parse_target  # noqa: E402
from imagefleet.settings import Settings  # noqa: E402

GIT = ["git", "-c", "user.email=bench@imagefleet.invalid", "-c", "user.name=bench"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def make_repository(root: Path, count: int) -> None:
    """`count` images in families of ten (one base, nine children), two commits."""
    for index in range(count):
        family, member = divmod(index, 10)
        directory = root / "images" / f"img-{index:04d}"
        directory.mkdir(parents=True)
        if member == 0:
            dockerfile = "ARG BASE_IMAGE=alpine:3.21.3\nFROM ${BASE_IMAGE}\nRUN true\n"
        else:
            dockerfile = (
                f"ARG REGISTRY=ghcr.io/webgrip\n"
                f"FROM ${{REGISTRY}}/img-{family * 10:04d}:latest\nUSER 1000\n"
            )
        (directory / "Dockerfile").write_text(dockerfile)
        (directory / "image.yml").write_text(
            f'description: image {index}\nversion: "1.0.{index}"\n'
        )
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "500 images")
    for index in (0, 123, 250, 377, 499):  # one base (with nine children) and four others
        (root / "images" / f"img-{index:04d}" / "Dockerfile").open("a").write("LABEL x=1\n")
    _git(root, "commit", "-q", "-am", "touch five images")


def timed(func: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` runs, in seconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagefleet-bench-") as tmp:
        root = Path(tmp)
        make_repository(root, options.images)
        settings = Settings(
            root=root, images_dir=root / "images", target=parse_target("ghcr.io/webgrip")
        )

        def baseline() -> object:
            merge_base = _git(root, "merge-base", "HEAD~1", "HEAD").strip()
            return _git(root, "diff", "--name-only", merge_base, "HEAD")

        def library() -> object:
            catalog = discover(settings.images_dir)
            return detect(settings, catalog, Graph.build(catalog, settings.targets), "HEAD~1")

        def cli() -> object:
            env = {
                **os.environ,
                "INVOKE_FLEET_ROOT": str(root),
                "INVOKE_FLEET_REGISTRY": "ghcr.io/webgrip",
            }
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "invoke",
                    "--search-root",
                    str(REPO),
                    "changed",
                    "--base",
                    "HEAD~1",
                    "--json",
                ],
                cwd=root,
                env=env,
                check=True,
                capture_output=True,
            )

        affected = len(library().affected)  # type: ignore[attr-defined]
        floor = timed(baseline, options.repeat)
        lib = timed(library, options.repeat)
        whole = timed(cli, options.repeat)
        print(f"synthetic repository: {options.images} images, 5 changed, {affected} affected")
        print(f"git diff baseline        {floor * 1000:8.1f} ms   1.0x")
        print(f"changes.detect (library){lib * 1000:8.1f} ms  {lib / floor:5.1f}x")
        print(f"invoke changed (CLI)     {whole * 1000:8.1f} ms  {whole / floor:5.1f}x")


if __name__ == "__main__":
    main()
