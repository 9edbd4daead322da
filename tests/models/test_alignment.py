"""The region-word alignment model: S_kl and the ranking loss on hand-made cases, padding that
never counts, a bidirectional sentence encoder, and a model that learns to match a few scenes."""

from __future__ import annotations

import pytest
import torch

from regionlab.models.alignment.model import (
    AlignmentModel,
    AlignSpec,
    alignment_scores,
    best_regions,
    ranking_loss,
)


def test_score_sums_each_words_best_region():
    # one image: regions (1, 0), (0, 1) and a padded region that would win every max
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [100.0, 100.0]]])
    vm = torch.tensor([[True, True, False]])
    # sentence 0: words (2, 1) -> best 2 (region 0), (0, 3) -> best 3 (region 1), a padded word
    # sentence 1: one word (-1, -2) -> best -1 (region 0)
    s = torch.tensor([[[2.0, 1.0], [0.0, 3.0], [9.0, 9.0]], [[-1.0, -2.0], [0.0, 0.0], [0, 0]]])
    sm = torch.tensor([[True, True, False], [True, False, False]])
    assert alignment_scores(v, vm, s, sm).tolist() == [[5.0, -1.0]]
    assert best_regions(v[0], vm[0], s[0, :2]).tolist() == [0, 1]


def test_score_is_the_same_in_chunks():
    torch.manual_seed(0)
    v, s = torch.randn(7, 5, 8), torch.randn(4, 6, 8)
    vm, sm = torch.rand(7, 5) > 0.3, torch.rand(4, 6) > 0.3
    vm[:, 0] = sm[:, 0] = True
    assert torch.allclose(alignment_scores(v, vm, s, sm), alignment_scores(v, vm, s, sm, chunk=2))


def test_ranking_loss_on_a_hand_made_case():
    scores = torch.tensor([[3.0, 1.0], [2.5, 2.0]])
    # image 0: max(0, 1 - 3 + 1) = 0; image 1: max(0, 2.5 - 2 + 1) = 1.5
    # sentence 0: max(0, 2.5 - 3 + 1) = 0.5; sentence 1: max(0, 1 - 2 + 1) = 0
    assert float(ranking_loss(scores)) == pytest.approx((0 + 1.5 + 0.5 + 0) / 2)
    assert float(ranking_loss(torch.tensor([[5.0, 0.0], [0.0, 5.0]]))) == 0.0


def _model(vocab=12, **kw) -> AlignmentModel:
    return AlignmentModel(AlignSpec(vocab, widths=[8, 16, 32], embed=16, hidden=32, **kw))


@pytest.mark.parametrize("cell", ["rnn_relu", "lstm"])
def test_word_vectors_see_both_sides(cell):
    torch.manual_seed(0)
    m = _model(cell=cell).eval()
    a, _ = m.embed_words(torch.tensor([[4, 5, 6, 7]]))
    b, _ = m.embed_words(torch.tensor([[4, 5, 6, 9]]))  # last word changed
    c, _ = m.embed_words(torch.tensor([[8, 5, 6, 7]]))  # first word changed
    assert not torch.allclose(a[0, 0], b[0, 0])  # the backward direction carries it to word 0
    assert not torch.allclose(a[0, 3], c[0, 3])  # and the forward one to the last word


def test_padding_does_not_change_a_sentence_or_an_image():
    torch.manual_seed(0)
    m = _model().eval()
    short, _ = m.embed_words(torch.tensor([[4, 5, 6]]))
    padded, mask = m.embed_words(torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]]))
    assert torch.allclose(short[0], padded[0, :3], atol=1e-6)
    assert not mask[0, 3:].any() and torch.all(padded[0, 3:] == 0)
    img = torch.rand(2, 3, 32, 32)
    whole = torch.tensor([[0.0, 0.0, 32.0, 32.0]])
    boxes = [whole, torch.cat([whole, torch.tensor([[4.0, 4.0, 20.0, 20.0]])])]
    out = m(img, boxes, torch.tensor([[4, 5], [6, 7]]))
    assert out.regions.shape == (2, 2, 32) and out.region_mask.tolist() == [[True, False]] + [
        [True, True]
    ]
    alone = m(img[:1], boxes[:1], torch.tensor([[4, 5]]))
    assert torch.allclose(alone.regions[0, 0], out.regions[0, 0], atol=1e-5)


def test_a_sentence_without_words_is_an_error():
    with pytest.raises(ValueError, match="no words"):
        _model().embed_words(torch.tensor([[4, 5], [0, 0]]))
