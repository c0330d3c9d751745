"""Invoke entry point: the namespace comes from the package; nothing else lives here."""

from pathlib import Path

from imagefleet.tasks import namespace

ns = namespace()
ns.configure({"fleet": {"root": str(Path(__file__).resolve().parent)}})
