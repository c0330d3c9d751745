"""Markdown helpers: escaping, code spans that survive backticks, tables and page endings."""

from __future__ import annotations

from imagefleet.docs import markdown as md


def test_text_escapes_markdown_but_keeps_code_spans() -> None:
    assert md.text("a | b <c> & *d* `x|y`") == r"a \| b &lt;c&gt; &amp; \*d\* `x|y`"
    assert md.text("one\ntwo") == "one two"


def test_code_spans_survive_backticks() -> None:
    assert md.code("plain") == "`plain`"
    assert md.code("a`b") == "``a`b``"
    assert md.code("`edge`") == "`` `edge` ``"


def test_tokens_are_code_with_the_class_the_css_keeps_whole() -> None:
    assert md.token("alpine:3.21.3") == (
        '<code class="fleet-token"><span>alpine:3.21.3</span></code>'
    )
    assert md.token("ghcr.io/a/b:1") == (
        '<code class="fleet-token"><span>ghcr.io/</span><wbr><span>a/</span><wbr>'
        "<span>b:1</span></code>"
    )
    assert md.token("helm 4.3.0") == (
        '<code class="fleet-token"><span>helm </span><wbr><span>4.3.0</span></code>'
    )
    assert md.token("a<b|c") == '<code class="fleet-token"><span>a&lt;b&#124;c</span></code>'


def test_tables_keep_their_shape_and_pages_end_once() -> None:
    assert md.table(("a", "b"), [("1", "")]) == ["| a | b |", "|---|---|", "| 1 |   |"]
    assert md.page(["# Title", "", "", "", "text", "", ""]) == "# Title\n\ntext\n"


def test_mermaid_ids_and_labels_are_safe() -> None:
    assert md.mermaid_id("img_", "helm-deploy.v2") == "img_helm_deploy_v2"
    assert md.mermaid_label('say "hi"') == "say #quot;hi#quot;"
