"""The package's shape: what ``__all__`` lists is what exists, it is typed, modules stay small."""

from __future__ import annotations

from pathlib import Path

import imagefleet

PACKAGE = Path(imagefleet.__file__).resolve().parent
MAX_LINES = 500  # one concept per module: past this a module is doing two jobs


def test_all_lists_every_module_and_subpackage() -> None:
    on_disk = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()
    }
    assert set(imagefleet.__all__) == on_disk


def test_subpackages_declare_all() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        assert "__all__" in init.read_text(encoding="utf-8"), init


def test_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_no_module_does_two_jobs() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules by concept: {long}"
