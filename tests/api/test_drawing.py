"""Pictures of instance predictions: a keypoint the model is not sure of is left out, with
every limb that ends at it (else a limb points at wherever the unsure keypoint landed)."""

from __future__ import annotations

import numpy as np
import torch

from regionlab.api.drawing import KEYPOINT_SCORE, draw_instances


def test_unsure_keypoints_and_their_limbs_are_not_drawn():
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    kps = torch.tensor([[[10.0, 10.0, 0.9], [30.0, 30.0, KEYPOINT_SCORE / 2], [10.0, 30.0, 0.9]]])
    pic = draw_instances(image, torch.zeros(0, 4), [], [], ["background", "person"],
                         keypoints=kps, skeleton=[[0, 1], [0, 2]])  # fmt: skip
    rgb = np.asarray(pic)
    assert rgb[10, 10].any() and rgb[30, 10].any()  # sure keypoints: drawn
    assert rgb[20, 10].any()  # the limb between them
    assert not rgb[30, 30].any() and not rgb[20, 20].any()  # the unsure one and its limb: not
