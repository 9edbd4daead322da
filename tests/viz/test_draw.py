"""Pictures a user looks at: class colours, legends, overlays."""

import numpy as np
import torch

from regionlab.data.sample import Sample
from regionlab.viz.draw import class_colours, draw_detections, draw_sample, overlay, overlay_panels


def _image(colour_left, colour_right):
    img = torch.zeros(3, 4, 8, dtype=torch.uint8)
    img[:, :, :4] = torch.tensor(colour_left, dtype=torch.uint8)[:, None, None]
    img[:, :, 4:] = torch.tensor(colour_right, dtype=torch.uint8)[:, None, None]
    return img


def test_class_zero_is_painted_unless_it_is_background():
    img = _image((100, 100, 100), (100, 100, 100))
    cls = torch.zeros(4, 8, dtype=torch.int64)
    names = ["sky", "road"]
    painted = np.asarray(overlay(img, cls, class_colours(names, False), background=False))
    assert not (painted == 100).all()  # sky is visible
    kept = np.asarray(overlay(img, cls, class_colours(["background", "cat"], True), True))
    assert (kept == 100).all()  # background is left as (grey) image


def test_a_class_keeps_one_colour_over_different_pixels_of_equal_brightness():
    # red and blue pixels of the same mean brightness under the same class paint the same
    img = _image((150, 60, 90), (60, 90, 150))
    cls = torch.ones(4, 8, dtype=torch.int64)
    out = np.asarray(overlay(img, cls, class_colours(["background", "cat"], True), True))
    assert (out[:, 0] == out[:, 7]).all()


def test_pictures_carry_a_legend_with_the_class_names():
    img = _image((100, 100, 100), (10, 10, 10))
    pred = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3]] * 4)
    pic = overlay_panels(img, [("prediction", pred)], ["sky", "road", "car", "tree"], False)
    assert pic.height > 4 + 14  # title + panel + legend strip
    s = Sample(img, boxes=torch.tensor([[1.0, 1.0, 6.0, 3.0]]), labels=torch.tensor([1]))
    assert draw_sample(s, ["background", "cat"]).height > 4
    d = draw_detections(
        img, torch.tensor([[1.0, 1.0, 6.0, 3.0]]), [1], [0.9], ["background", "cat"]
    )
    assert d.height > 4
