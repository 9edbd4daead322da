"""Region-word alignment: Karpathy & Fei-Fei, "Deep Visual-Semantic Alignments for Generating
Image Descriptions" (CVPR 2015), section 3.1.

Both modalities are mapped into one ``h``-dimensional space:

- **regions** ``v_i = W_m fc(CNN(I)[b_i]) + b_m``: the whole image and its proposal boxes ``b_i``,
  each cut out of one feature map of the image with RoIAlign (Fast R-CNN style; the paper runs
  an ImageNet R-CNN on every crop, twenty CNN passes per image where we pay one);
- **words** ``s_t = f(W_d [h_t^fwd ; h_t^bwd] + b_d)``: a bidirectional RNN (ours,
  :class:`regionlab.models.recurrent.RNN`, ReLU ``f`` as in the paper) over word embeddings,
  so each word's vector carries its context ("red" in "a red circle" is about the circle).
  The paper adds the two directions' states before ``W_d``; concatenating them and learning
  ``W_d`` contains that (tie its two halves) and costs nothing.

The image-sentence score is the paper's simplified objective: every word picks its best region,
``S_kl = sum_{t in sentence l} max_{i in image k} v_i . s_t``, and training is the max-margin
ranking loss over a batch of matching pairs ``(k, k)``:
``C = sum_k [ sum_{l != k} max(0, S_kl - S_kk + 1) + sum_{l != k} max(0, S_lk - S_kk + 1) ]``
(rank sentences for each image, and images for each sentence), here averaged over ``k``.
The paper's MRF over snippets is left out: each word's alignment is its arg-max region.

Boxes are ``xyxy`` in input pixels; token ids come from
:class:`regionlab.data.captions.Vocabulary` (PAD 0), words only (no START / END).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from regionlab.models.backbones import Normalize, build_encoder
from regionlab.models.recurrent import RNN
from regionlab.ops.dtype import loss_precision
from regionlab.ops.global_batch import gather, global_loss, pad_dim, processes

PAD = 0


@dataclass
class AlignSpec:
    """``vocab_size`` (with the special tokens); the CNN: ``backbone`` (``small`` with
    ``widths``, or a torchvision name with ``pretrained`` a local state dict) read at
    ``stride``, each region an ``roi x roi`` RoIAlign grid; ``embed``: word vector size;
    ``hidden``: ``h``, the shared space; ``cell``: the BRNN's cell (``rnn_relu`` is the paper's,
    ``rnn_tanh`` or ``lstm``); ``margin`` of the ranking loss."""

    vocab_size: int
    backbone: str = "small"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    pretrained: str | None = None
    stride: int = 8
    roi: int = 4
    embed: int = 64
    hidden: int = 256
    cell: str = "rnn_relu"
    margin: float = 1.0

    def __post_init__(self) -> None:
        if self.cell not in ("rnn_relu", "rnn_tanh", "lstm"):
            raise ValueError(f"cell must be rnn_relu, rnn_tanh or lstm, got {self.cell!r}")
        if self.vocab_size < 4:
            raise ValueError(f"vocab_size {self.vocab_size} leaves no words after the specials")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AlignOutput:
    """``regions (K, R, h)`` with ``region_mask (K, R)`` (True where a region is real);
    ``words (L, T, h)`` with ``word_mask (L, T)``; ``scores (K, L)`` = ``S_kl``; ``loss``: the
    ranking loss when images and sentences are matching pairs (``K == L``), else ``None``."""

    regions: Tensor
    region_mask: Tensor
    words: Tensor
    word_mask: Tensor
    scores: Tensor
    loss: Tensor | None = None


def pad_boxes(boxes: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Per-image boxes ``(R_k, 4)`` -> ``(K, R, 4)`` padded with zeros and a ``(K, R)`` mask."""
    r = max(len(b) for b in boxes)
    out = boxes[0].new_zeros(len(boxes), r, 4)
    mask = torch.zeros(len(boxes), r, dtype=torch.bool, device=out.device)
    for k, b in enumerate(boxes):
        out[k, : len(b)] = b
        mask[k, : len(b)] = True
    return out, mask


def alignment_scores(
    regions: Tensor, region_mask: Tensor, words: Tensor, word_mask: Tensor, chunk: int = 64
) -> Tensor:
    """``S_kl = sum_t max_i v_i . s_t``: ``regions (K, R, h)``, ``words (L, T, h)`` and their
    masks -> ``(K, L)``. Padded regions never win the max; padded words add nothing. Images
    are taken ``chunk`` at a time so that ``K x L x R x T`` never sits in memory at once."""
    out = []
    for k0 in range(0, len(regions), chunk):
        v, vm = regions[k0 : k0 + chunk], region_mask[k0 : k0 + chunk]
        dots = torch.einsum("krh,lth->klrt", v, words)
        dots = dots.masked_fill(~vm[:, None, :, None], float("-inf"))
        best = dots.amax(2)  # (k, L, T)
        out.append(best.masked_fill(~word_mask[None], 0.0).sum(-1))
    return loss_precision(torch.cat(out))


def best_regions(regions: Tensor, region_mask: Tensor, words: Tensor) -> Tensor:
    """Each word's arg-max region: ``regions (R, h)``, ``region_mask (R,)``, ``words (T, h)``
    -> ``(T,)`` region indices (the alignment the score uses)."""
    dots = (words @ regions.T).masked_fill(~region_mask[None], float("-inf"))
    return dots.argmax(1)


def ranking_loss(scores: Tensor, margin: float = 1.0) -> Tensor:
    """The paper's bidirectional max-margin loss for ``scores (K, K)`` whose diagonal holds the
    matching pairs, averaged over ``k``."""
    diag = scores.diagonal()
    off = ~torch.eye(len(scores), dtype=torch.bool, device=scores.device)
    rank_sentences = (scores - diag[:, None] + margin).clamp(min=0) * off  # row k: image k
    rank_images = (scores - diag[None, :] + margin).clamp(min=0) * off  # column l: sentence l
    return (rank_sentences.sum(1) + rank_images.sum(0)).mean()


class AlignmentModel(nn.Module):
    """``forward(images float (K, 3, H, W) in [0, 1], boxes list of K (R_k, 4) xyxy,
    words int64 (L, T) PAD-padded)`` -> :class:`AlignOutput`; the loss when ``K == L`` and
    ``pairs`` (image ``k`` goes with sentence ``k``). Every image's region 0 should be the
    whole image (the task adds it)."""

    def __init__(self, spec: AlignSpec) -> None:
        super().__init__()
        self.spec = spec
        self.normalize = Normalize()
        self.encoder = build_encoder(spec.backbone, widths=tuple(spec.widths),
                                     pretrained=spec.pretrained)  # fmt: skip
        strides = tuple(self.encoder.strides)
        if spec.stride not in strides:
            raise ValueError(f"backbone {spec.backbone!r} has no stride {spec.stride}: {strides}")
        self.level = strides.index(spec.stride)
        c = self.encoder.channels[self.level]
        self.region_fc = nn.Sequential(
            nn.Linear(c * spec.roi * spec.roi, spec.hidden), nn.ReLU(inplace=True)
        )
        self.region_out = nn.Linear(spec.hidden, spec.hidden)  # W_m, b_m
        self.embed = nn.Embedding(spec.vocab_size, spec.embed, padding_idx=PAD)
        self.brnn = RNN(spec.embed, spec.hidden, cell=spec.cell, bidirectional=True)
        self.word_out = nn.Linear(2 * spec.hidden, spec.hidden)  # W_d, b_d

    def embed_regions(self, images: Tensor, boxes: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``(K, R, h)`` region vectors and their ``(K, R)`` mask."""
        f = self.encoder(self.normalize(images)).features[self.level]
        padded, mask = pad_boxes([b.to(f.dtype) for b in boxes])
        rois = list(padded.unbind(0))
        crops = roi_align(f, rois, self.spec.roi, 1.0 / self.spec.stride, sampling_ratio=2,
                          aligned=True)  # fmt: skip
        v = self.region_out(self.region_fc(crops.flatten(1)))
        return v.view(len(boxes), padded.shape[1], -1), mask

    def embed_words(self, words: Tensor) -> tuple[Tensor, Tensor]:
        """``(L, T, h)`` word vectors and their ``(L, T)`` mask. Every sentence needs a word."""
        mask = words != PAD
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError("a sentence has no words")
        out, _ = self.brnn(self.embed(words), lengths=lengths)
        s = torch.relu(self.word_out(out))
        return s * mask[..., None], mask

    def forward(self, images: Tensor, boxes: list[Tensor], words: Tensor,
                pairs: bool = True) -> AlignOutput:  # fmt: skip
        v, vm = self.embed_regions(images, boxes)
        s, sm = self.embed_words(words)
        scores = alignment_scores(v, vm, s, sm)
        loss = None
        if pairs and len(v) == len(s):
            loss = ranking_loss(scores, self.spec.margin)
            if processes() > 1:  # each pair ranked against the global batch's others
                g = [gather(pad_dim(t, 1, pad)) for t, pad in ((v, 0), (vm, False), (s, 0),
                                                              (sm, False))]  # fmt: skip
                loss = global_loss(ranking_loss(alignment_scores(*g), self.spec.margin))
        return AlignOutput(v, vm, s, sm, scores, loss)
