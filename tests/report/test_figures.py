"""Pictures in the page: a drawing of few colours stays a lossless PNG, a photo goes as a JPEG
a fraction of its PNG's size, and a small picture is enlarged by a whole factor."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from regionlab.report.figures import image_uri


def _decode(uri: str) -> tuple[str, bytes]:
    head, payload = uri.split(",", 1)
    return head, base64.b64decode(payload, validate=True)


def test_a_photo_goes_as_jpeg_and_a_drawing_as_lossless_png():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:420, 0:560]
    smooth = np.stack([x * 255 / 560, y * 255 / 420, (x + y) * 255 / 980], -1)
    photo = Image.fromarray(
        np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)
    )
    head, data = _decode(image_uri(photo))
    assert head == "data:image/jpeg;base64"
    png = io.BytesIO()
    photo.save(png, format="PNG")
    assert len(data) < len(png.getvalue()) / 3
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)
    assert back.shape == (420, 560, 3) and np.abs(back - np.asarray(photo)).mean() < 6

    drawing = np.zeros((48, 64, 3), np.uint8)
    drawing[10:30, 5:40] = (255, 0, 0)  # a box in a drawn scene: 2 colours
    head, data = _decode(image_uri(Image.fromarray(drawing)))
    assert head == "data:image/png;base64"
    shown = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert shown.shape == (48 * 3, 64 * 3, 3)  # 192 // 64 = 3, nearest: every pixel kept
    assert np.array_equal(shown[::3, ::3], drawing)
