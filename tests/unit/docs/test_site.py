"""The site as a whole: every image has its page, its nav entry and its entity."""

from __future__ import annotations

import dataclasses
import re

from imagefleet import catalog
from imagefleet.docs import backstage, site
from tests.helpers import REPO
from tests.unit.docs.helpers import entities


def test_every_image_has_a_page_a_nav_entry_and_an_entity() -> None:
    names = set(catalog.discover(REPO / "images").names)
    assert len(names) >= 6
    nav = (REPO / site.MKDOCS_YML).read_text(encoding="utf-8")
    for name in names:
        assert (REPO / "docs" / "images" / f"{name}.md").is_file(), name
        assert f"images/{name}.md" in nav, name
    images = {
        e["metadata"]["name"]
        for e in entities()
        if e["kind"] == "Component" and e["spec"]["type"] == backstage.IMAGE_TYPE
    }
    assert images == names


def test_the_manifest_page_documents_every_field() -> None:
    page = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(catalog.Manifest):
        assert f"| `{field.name}` |" in page, field.name


def test_no_page_escapes_a_pipe_inside_code() -> None:
    # Python-Markdown's tables leave a pipe inside a code span alone, and keep `\|` there literally:
    # the reader would see the backslash.
    pages = [*(REPO / "docs").rglob("*.md"), *(REPO / "images").glob("*/README.md")]
    for path in pages:
        text = path.read_text(encoding="utf-8")
        spans = re.findall(r"(`+)(.+?)\1", text)
        assert not [s for _, s in spans if "\\|" in s], path


def test_the_readme_has_no_link_the_site_cannot_follow() -> None:
    # The README is also the site's getting-started page, where a link relative to the
    # repository (docs/…, images/…) does not resolve and fails the strict build.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    relative = re.findall(r"\]\((?!https?://|#|mailto:)([^)]+)\)", readme)
    assert relative == []
