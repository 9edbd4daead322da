"""The page's building blocks: text is always escaped, only PNG / JPEG data: URIs become images, the
document carries the strict CSP and no script; worst images rank the right way."""

from __future__ import annotations

import math

import pytest

from regionlab.report.analysis import worst
from regionlab.report.page import CSP, Html, document, image, number, table, tag, text


def test_text_and_attributes_are_escaped_but_built_markup_is_not_twice():
    evil = "<img src=x onerror=alert(1)>\"'&"
    cell = tag("td", evil, title=evil)
    assert "<img" not in cell.replace("<td", "")
    assert cell == ('<td title="&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;">'
                    "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;</td>")  # fmt: skip
    assert tag("tr", cell).count("&amp;lt;") == 0  # Html children are kept as built
    t = table(["h<"], [[evil, 1.5]], id_="results")
    assert "<th>h&lt;</th>" in t and "&lt;img" in t and isinstance(t, Html)


def test_images_are_png_or_jpeg_data_uris_only():
    ok = image("data:image/png;base64,AAAA", "a <b>")
    assert ok == '<img src="data:image/png;base64,AAAA" alt="a &lt;b&gt;">'
    assert image("data:image/jpeg;base64,AAAA", "j").startswith('<img src="data:image/jpeg;')
    bad_uris = ("https://example.com/a.png", "file:///etc/passwd", "x", "data:text/html,<b>",
                "data:image/svg+xml;base64,AAAA", "data:image/jpeg,AAAA")  # fmt: skip
    for bad in bad_uris:
        with pytest.raises(ValueError, match="PNG or JPEG data: URIs"):
            image(bad, "x")


def test_document_has_the_csp_and_no_script():
    page = document("<t>", [tag("p", "<script>alert(1)</script>")])
    assert "default-src &#x27;none&#x27;" in page and text(CSP) in page
    assert "<script" not in page and "<title>&lt;t&gt;</title>" in page


def test_numbers_and_worst_images():
    assert number(math.nan) == "—" and number(None) == "—" and number(1234567) == "1,234,567"
    assert number(0.123456) == "0.1235"
    assert worst([0.5, math.nan, 0.1, 0.9], 2) == [2, 0]  # lowest quality first, nan left out
    assert worst([0.0, 3.0, 1.0], 5, higher_is_worse=True) == [1, 2]  # no errors: not "worst"
