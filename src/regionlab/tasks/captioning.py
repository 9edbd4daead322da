"""Image captioning as an engine task.

Images are resized to ``size`` (training adds a horizontal flip only when ``flip`` is set: a
flip swaps "left" and "right" in a caption, so it is off by default); each training item takes
one of its image's captions, chosen by the item's generator. Evaluation scores greedy (or beam,
``beam > 1``) captions with BLEU-1..4 and CIDEr-D against all of each image's captions, in
process and equal to the COCO caption scorers (:mod:`regionlab.eval.captions`).

The vocabulary is built from the training captions (``Vocabulary.build``) and travels in the
checkpoint as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from regionlab.data.captions import Vocabulary, tokenize
from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.data.transforms import hflip, resize
from regionlab.engine.task import StepOutput
from regionlab.eval.captions import caption_scores
from regionlab.models.captioning.captioner import PAD, Captioner, CaptionSpec
from regionlab.tasks.common import (
    BatchwiseEvaluation,
    like_model,
    loss_means,
    loss_sums,
    model_device,
    resize_images,
    spec_dict,
    split_spec_dict,
)


@dataclass
class CapItem:
    image: torch.Tensor  # uint8 (3, H, W)
    tokens: list[int]  # START w .. END
    references: list[str]


@dataclass
class CapBatch:
    images: torch.Tensor  # float (N, 3, H, W) in [0, 1]
    captions: torch.Tensor  # int64 (N, T), PAD-padded
    references: list[list[str]]


def collate(items: list[CapItem]) -> CapBatch:
    t = max(len(i.tokens) for i in items)
    caps = torch.full((len(items), t), PAD, dtype=torch.long)
    for row, item in enumerate(items):
        caps[row, : len(item.tokens)] = torch.tensor(item.tokens)
    images = torch.stack([i.image for i in items]).float().div_(255.0)
    return CapBatch(images, caps, [i.references for i in items])


class CaptionTask(BatchwiseEvaluation):
    """``spec``: the captioner; ``size``: ``(H, W)`` input; ``vocab``: ``Vocabulary.to_dict()``;
    ``beam``: width used by evaluation (1: greedy); ``max_words``: training captions are cut
    to this many words."""

    name = "caption"
    main_metric = "CIDEr-D"
    classes: list[str] = []  # captions have no classes; eval compares vocabularies instead

    def __init__(
        self,
        spec: CaptionSpec,
        size: tuple[int, int],
        vocab: dict,
        beam: int = 1,
        flip: float = 0.0,
        max_words: int = 20,
    ) -> None:
        self.spec, self.size, self.vocab_dict = spec, tuple(size), vocab
        self.vocab = Vocabulary.from_dict(vocab)
        if len(self.vocab) != spec.vocab_size:
            raise ValueError(f"vocabulary of {len(self.vocab)} words for a {spec.vocab_size} model")
        self.beam, self.flip, self.max_words = beam, flip, max_words

    def spec_dict(self) -> dict:
        return spec_dict(self.spec, size=list(self.size), vocab=self.vocab_dict, beam=self.beam,
                         flip=self.flip, max_words=self.max_words)  # fmt: skip

    @classmethod
    def from_spec_dict(cls, d: dict) -> CaptionTask:
        spec, rest = split_spec_dict(d, CaptionSpec)
        return cls(spec, **rest)

    @staticmethod
    def check_sample(sample: Sample) -> None:
        if not sample.captions or not any(c.strip() for c in sample.captions):
            where = sample.path or f"image {sample.image_id}"
            raise DataError(where, "has no caption (captioning needs at least one per image)")

    def build_model(self) -> nn.Module:
        return Captioner(self.spec)

    def transform(self, train: bool):
        def item(sample: Sample, gen=None) -> CapItem:
            s = resize(sample, self.size)
            refs = [c for c in sample.captions if c.strip()]
            pick = 0
            if train and gen is not None:
                pick = int(torch.randint(len(refs), (), generator=gen))
                if self.flip and float(torch.rand((), generator=gen)) < self.flip:
                    s = hflip(s)
            words = tokenize(refs[pick])[: self.max_words]
            return CapItem(s.image, self.vocab.encode(words), refs)

        return item

    collate = staticmethod(collate)

    def step(self, model: nn.Module, batch: CapBatch, device) -> StepOutput:
        out = model(like_model(batch.images, model), batch.captions.to(device))
        return StepOutput(out.loss, {})

    def _text(self, ids: list[int]) -> str:
        return " ".join(self.vocab.decode(ids))

    def evaluate_batch(self, model: nn.Module, batch: CapBatch, device) -> dict:
        """The batch's generated captions (text) beside its references, and its loss."""
        core = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        images = like_model(batch.images, model)
        out = model(images, batch.captions.to(device))
        cands = [self._text(ids) for ids in core.generate(images, beam=self.beam)]
        k = len(images)
        return {"cands": cands, "refs": list(batch.references),
                "losses": loss_sums(out.loss, k), "n": k}  # fmt: skip

    def summarize(self, parts: list[dict]) -> dict:
        cands = [c for p in parts for c in p["cands"]]
        refs = [r for p in parts for r in p["refs"]]
        metrics = caption_scores(dict(enumerate(cands)), dict(enumerate(refs)))
        return {**metrics, **loss_means(parts)}

    @torch.inference_mode()
    def predict(self, model: nn.Module, images: torch.Tensor, beam: int | None = None) -> list[str]:
        """One caption per ``float (N, 3, H, W)`` image in ``[0, 1]``."""
        model.eval()
        x = resize_images(images.to(model_device(model)), self.size)
        ids = model.generate(like_model(x, model), beam=beam or self.beam)
        return [self._text(i) for i in ids]
