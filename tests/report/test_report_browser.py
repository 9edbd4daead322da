"""report.html in a real browser (headless Chromium over the DevTools protocol): every image
loads, the results table has one row per model, the page logs nothing to the console, and a
class name that is markup stays text. Skipped, saying why, where Chromium is not installed
(``.ci/run`` installs Debian's ``chromium`` where it can)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from browser import BrowserUnavailable, find_chromium, inspect_page
from conftest import HOSTILE
from PIL import Image
from test_report_pages import _compare

from regionlab.report import write_report
from regionlab.report.figures import image_uri
from regionlab.report.page import document, image

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (apt-get install chromium; .ci/run does where apt works)",
)

# what the page looks like from inside: every image's load state, table rows, cell texts
PROBE = """JSON.stringify({
  images: Array.from(document.images).map(i => [i.complete, i.naturalWidth]),
  rows: document.querySelectorAll('#results tbody tr').length,
  cells: Array.from(document.querySelectorAll('td')).map(td => td.textContent),
  injected: document.querySelectorAll('img[src="x"], script, b[onclick]').length,
})"""


def _look(path):
    try:
        value, messages = inspect_page(path, PROBE, CHROMIUM)
    except BrowserUnavailable as e:
        pytest.skip(str(e))
    return json.loads(value), messages


def test_the_probe_sees_a_broken_image_and_a_blocked_script(tmp_path):
    """The harness itself: a page that breaks the rules is caught (else the checks below
    would pass on anything)."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:">'
        '<table id="results"><tbody><tr><td>a</td></tr></tbody></table>'
        '<img src="data:image/png;base64,AAAA"><script>console.log("ran")</script>'
    )
    page, messages = _look(bad)
    assert page["images"] == [[True, 0]]
    assert any("Content Security Policy" in m for m in messages), messages


def test_compare_report_renders_in_chromium(det_run, tmp_path):
    folder = _compare(tmp_path / "cmp", det_run)
    page, messages = _look(write_report(folder, max_images=2))
    assert messages == []
    assert page["images"] and all(done and width > 0 for done, width in page["images"])
    assert page["rows"] == 3  # one per model of compare.json's table
    assert HOSTILE in page["cells"] and page["injected"] == 0


def test_training_report_renders_in_chromium(det_run):
    page, messages = _look(det_run / "report.html")
    assert messages == []
    assert all(done and width > 0 for done, width in page["images"])
    assert page["rows"] == 1 and page["injected"] == 0
    assert HOSTILE in page["cells"]


def test_a_photo_s_jpeg_and_a_drawing_s_png_both_load(tmp_path):
    """Photos go into the page as JPEG: the CSP's ``img-src data:`` lets them load too."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    drawing = Image.fromarray(np.zeros((60, 80, 3), np.uint8))
    uris = [image_uri(photo), image_uri(drawing)]
    assert [u.split(";")[0] for u in uris] == ["data:image/jpeg", "data:image/png"]
    path = tmp_path / "pictures.html"
    path.write_text(document("pictures", [image(u, "p") for u in uris]), encoding="utf-8")
    page, messages = _look(path)
    assert messages == [] and page["images"] == [[True, 160], [True, 160]]
