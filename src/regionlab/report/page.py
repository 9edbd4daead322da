"""HTML building blocks of ``report.html``: every string becomes text through
:func:`html.escape` unless it is :class:`Html` built here, images are ``data:`` URIs only, and
the page's Content-Security-Policy forbids scripts and every fetch (no network, no CDN).

Class names, file names, run labels and commands all come from data or files a user wrote;
none of them can become markup: only the functions below make :class:`Html`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
DATA_PNG = "data:image/png;base64,"
DATA_IMAGES = (DATA_PNG, "data:image/jpeg;base64,")

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td { white-space: nowrap; }
td.text { text-align: left; max-width: 28em; white-space: normal; }
section { overflow-x: auto; }
.note { color: #555; font-size: .92em; }
.problem { color: #a00; }
img { max-width: 100%; }
img.sample { max-width: none; }
code { background: #f4f4f4; padding: 0 .25em; word-break: break-all; }
"""


class Html(str):
    """Markup built by this module (already safe); any other ``str`` is text."""


def text(value) -> Html:
    """``value`` as HTML text: escaped, quotes included (a number as it reads)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable) -> Html:
    return Html("".join(text(p) for p in parts))


def tag(name: str, *children, cls: str | None = None, **attrs) -> Html:
    """``<name attrs>children</name>``; children and attribute values are escaped."""
    if cls:
        attrs["class"] = cls
    at = "".join(f' {k.rstrip("_")}="{text(v)}"' for k, v in attrs.items() if v is not None)
    return Html(f"<{name}{at}>{join(children)}</{name}>")


def image(uri: str, alt, cls: str | None = None) -> Html:
    """An ``<img>`` of a PNG or JPEG ``data:`` URI (anything else is refused: nothing is
    fetched, and no SVG, which could carry script)."""
    if not uri.startswith(DATA_IMAGES):
        raise ValueError("report images must be PNG or JPEG data: URIs")
    extra = f' class="{text(cls)}"' if cls else ""
    return Html(f'<img src="{uri}" alt="{text(alt)}"{extra}>')


def number(v, digits: int = 4) -> str:
    """A metric as the page shows it: ``—`` when missing or ``nan``."""
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.{digits}g}"
    return str(v)


def table(headers: list, rows: list[list], id_: str | None = None, text_cols: int = 1) -> Html:
    """A table with a header row; the first ``text_cols`` columns left-aligned."""
    head = tag("thead", tag("tr", *(tag("th", h) for h in headers)))
    body = tag(
        "tbody",
        *(
            tag(
                "tr",
                *(tag("td", c, cls="text" if i < text_cols else None) for i, c in enumerate(r)),
            )
            for r in rows
        ),
    )
    return tag("table", head, body, id=id_)


def section(title, *children, id_: str | None = None) -> Html:
    return tag("section", tag("h2", title), *children, id=id_)


def para(*children, cls: str | None = None) -> Html:
    return tag("p", *children, cls=cls)


def document(title, body: Iterable) -> str:
    """The whole page: UTF-8, the strict CSP, the inline style, no script anywhere."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{text(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>{join(body)}</body></html>\n"
    )
