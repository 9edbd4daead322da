"""Retrieval recall, median rank and chance on hand-made score matrices; alignment hits."""

from __future__ import annotations

from math import comb

import pytest
import torch

from regionlab.eval.retrieval import alignment_hits, retrieval_metrics


def test_recall_and_median_rank_on_a_hand_made_case():
    # 3 images; sentences 0, 1 belong to image 0, sentence 2 to image 1, sentence 3 to image 2
    scores = torch.tensor(
        [
            [0.1, 0.9, 0.8, 0.0],  # image 0: own best 0.9 -> rank 1
            [0.5, 0.6, 0.4, 0.0],  # image 1: own 0.4 below 0.5 and 0.6 -> rank 3
            [0.0, 0.0, 0.0, 0.2],  # image 2: rank 1
        ]
    )
    owner = torch.tensor([0, 0, 1, 2])
    m = retrieval_metrics(scores, owner, ks=(1, 2))
    assert m["i2t_R@1"] == pytest.approx(2 / 3) and m["i2t_R@2"] == pytest.approx(2 / 3)
    assert m["i2t_med_r"] == 1.0
    # sentence -> image ranks: s0: 0.1 vs 0.5, 0.0 -> 2; s1: 1; s2: 0.4 vs 0.8, 0.0 -> 2; s3: 1
    assert m["t2i_R@1"] == 0.5 and m["t2i_R@2"] == 1.0 and m["t2i_med_r"] == 1.0
    assert m["mean_R"] == pytest.approx((2 / 3 + 2 / 3 + 0.5 + 1.0) / 4)
    assert m["chance_t2i_R@1"] == pytest.approx(1 / 3)
    # image 0 owns 2 of 4 sentences, the others 1
    c = (1 - comb(2, 1) / comb(4, 1) + 2 * (1 - comb(3, 1) / comb(4, 1))) / 3
    assert m["chance_i2t_R@1"] == pytest.approx(c)


def test_ties_count_against_the_query():
    m = retrieval_metrics(torch.zeros(4, 4), torch.arange(4))
    assert m["i2t_R@1"] == 0.0 and m["t2i_R@1"] == 0.0 and m["t2i_med_r"] == 4.0
    perfect = retrieval_metrics(torch.eye(4), torch.arange(4))
    assert perfect["mean_R"] == 1.0 and perfect["i2t_med_r"] == 1.0


def test_every_image_needs_a_sentence():
    with pytest.raises(ValueError, match="at least one sentence"):
        retrieval_metrics(torch.zeros(3, 2), torch.tensor([0, 1]))


def test_alignment_hits_use_iou_against_any_named_object():
    words = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0, 0, 10.0, 10.0]])
    targets = [
        torch.tensor([[0.0, 0.0, 10.0, 12.0]]),  # IoU 100 / 120 -> hit
        torch.tensor([[0.0, 0.0, 20.0, 20.0], [50.0, 50.0, 60.0, 60.0]]),  # 0.25, 0 -> miss
        torch.tensor([[40.0, 40, 60, 60], [1.0, 1.0, 10.0, 10.0]]),  # 0, 0.81 -> hit
    ]
    assert alignment_hits(words, targets).tolist() == [True, False, True]
