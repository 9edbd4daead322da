"""Region-word alignment (Karpathy & Fei-Fei) as an engine task.

Each image is resized to ``size`` and given its regions: the whole image first, then the boxes
of a region source (:func:`region_source`):

- ``grid``: 22 fixed windows (2 x 2 of two-thirds the side, 3 x 3 of a half, 3 x 3 of a third);
- ``selective-search``: the first ``top`` selective-search boxes of at least 1/8 of the side
  (cached on disk as for R-CNN);
- ``detector:PATH``: the ``top`` best boxes of a trained ``regionlab train detect`` checkpoint
  (the paper's choice: an R-CNN's top 19 detections);
- ``gt``: the ground-truth boxes, a ceiling for the others.

Training pairs each image with one of its captions (chosen by the item's generator) and ranks
the batch (:func:`regionlab.models.alignment.model.ranking_loss`). Evaluation scores every
validation image against every validation sentence: retrieval R@1/5/10 and median rank both
ways next to chance (:mod:`regionlab.eval.retrieval`), and, where the data says which object a
word names, the **alignment accuracy**: the fraction of object nouns (class names) whose
best-aligned region overlaps that object's box with IoU >= 0.5. On scenes the truth is exact
(``Sample.phrase_objects``: the k-th noun of a caption names one object); elsewhere a class
name counts as a hit when its region overlaps any object of that class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.ops import box_iou

from regionlab.data.captions import Vocabulary, tokenize
from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.data.transforms import resize
from regionlab.engine.task import StepOutput
from regionlab.eval.retrieval import alignment_hits, retrieval_metrics
from regionlab.models.alignment.model import (
    PAD,
    AlignmentModel,
    AlignSpec,
    alignment_scores,
    best_regions,
    ranking_loss,
)
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


def _padded(rows: list[Tensor], masks: list[Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """``(n_i, h)`` tensors -> ``(len, max n_i, h)`` zero-padded, and the ``(len, max n_i)``
    mask of real rows (``masks``: each tensor's own, else all of its rows are real)."""
    n = max(len(r) for r in rows)
    if masks is None:
        masks = [torch.ones(len(r), dtype=torch.bool) for r in rows]
    x = torch.stack([torch.cat([r, r.new_zeros(n - len(r), r.shape[1])]) for r in rows])
    mask = torch.stack([torch.cat([m, m.new_zeros(n - len(m))]) for m in masks])
    return x, mask


def grid_boxes(size: tuple[int, int]) -> Tensor:
    """The 22 ``grid`` windows for an ``(H, W)`` image, ``xyxy``: sides 2/3, 1/2 and 1/3 of the
    image at 2 x 2, 3 x 3 and 3 x 3 positions spread evenly from edge to edge."""
    h, w = size
    boxes = []
    for side, n in ((2 / 3, 2), (1 / 2, 3), (1 / 3, 3)):
        for j in range(n):
            for i in range(n):
                x0, y0 = i * (1 - side) / (n - 1) * w, j * (1 - side) / (n - 1) * h
                boxes.append([x0, y0, x0 + side * w, y0 + side * h])
    return torch.tensor(boxes, dtype=torch.float32)


def region_source(name: str, top: int) -> Callable[[Sample], Tensor]:
    """``sample -> (R, 4)`` float ``xyxy`` boxes in the sample's pixels (whole image not
    included). ``name``: ``grid | selective-search | gt | detector:PATH``."""
    if name == "grid":
        return lambda s: grid_boxes(s.size)
    if name == "gt":
        return lambda s: s.boxes.float()
    if name == "selective-search":
        from regionlab.tasks.common import proposal_cache

        cache = proposal_cache()

        def ss(s: Sample) -> Tensor:
            b = cache.get(s.image, "fast").float()
            keep = (b[:, 2:] - b[:, :2]).amin(1) >= max(s.size) / 8
            return b[keep][:top]

        return ss
    if name.startswith("detector:"):
        return _detector_source(Path(name.removeprefix("detector:")), top)
    raise ValueError(f"unknown region source {name!r}: grid, selective-search, gt or detector:PATH")


def _detector_source(path: Path, top: int) -> Callable[[Sample], Tensor]:
    from regionlab.engine.checkpoint import RunCheckpoint
    from regionlab.engine.growing import model_from_checkpoint
    from regionlab.tasks.detection import DetectionTask

    ckpt = RunCheckpoint.load(path)
    if ckpt.task != "detect":
        raise ValueError(f"{path}: a region source needs a detect checkpoint, not {ckpt.task!r}")
    task = DetectionTask.from_spec_dict(ckpt.spec)
    model = model_from_checkpoint(task, ckpt).eval()
    memo: dict = {}

    def detect(s: Sample) -> Tensor:
        key = (s.path, s.image_id, s.size)
        if key not in memo:  # the detector is fixed and training images are not augmented
            det = task.predict(model, s.image[None].float() / 255)[0]
            memo[key] = det.boxes[det.scores.argsort(descending=True)][:top].float()
        return memo[key]

    return detect


@dataclass
class AlignItem:
    image: Tensor  # uint8 (3, H, W)
    boxes: Tensor  # float (R, 4): the whole image, then the source's regions
    words: list[int]  # the training sentence's word ids (no START / END)
    sentences: list[list[int]]  # every caption's word ids (evaluation)
    # per sentence: (word position, candidate object boxes (M, 4)) for each object noun
    nouns: list[list[tuple[int, Tensor]]]


@dataclass
class AlignBatch:
    images: Tensor  # float (N, 3, H, W) in [0, 1]
    boxes: list[Tensor]
    words: Tensor  # int64 (N, T), PAD-padded
    sentences: list[list[list[int]]]
    nouns: list[list[list[tuple[int, Tensor]]]]


def pad_words(rows: list[list[int]]) -> Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def collate(items: list[AlignItem]) -> AlignBatch:
    images = torch.stack([i.image for i in items]).float().div_(255.0)
    return AlignBatch(images, [i.boxes for i in items], pad_words([i.words for i in items]),
                      [i.sentences for i in items], [i.nouns for i in items])  # fmt: skip


class AlignTask(BatchwiseEvaluation):
    """``spec``: the model; ``size``: ``(H, W)``; ``vocab``: ``Vocabulary.to_dict()``;
    ``regions``: the region source; ``top``: boxes it keeps; ``nouns``: the words scored for
    alignment accuracy (the dataset's class names); ``max_words``: sentences are cut to it."""

    name = "align"
    main_metric = "mean_R"
    classes: list[str] = []  # eval compares vocabularies, not classes

    def __init__(self, spec: AlignSpec, size: tuple[int, int], vocab: dict,
                 regions: str = "grid", top: int = 19, nouns: list[str] | None = None,
                 max_words: int = 20) -> None:  # fmt: skip
        self.spec, self.size, self.vocab_dict = spec, tuple(size), vocab
        self.vocab = Vocabulary.from_dict(vocab)
        if len(self.vocab) != spec.vocab_size:
            raise ValueError(f"vocabulary of {len(self.vocab)} words for a {spec.vocab_size} model")
        self.regions, self.top, self.max_words = regions, top, max_words
        self.nouns = list(nouns or [])
        self._source: Callable[[Sample], Tensor] | None = None

    def spec_dict(self) -> dict:
        return spec_dict(self.spec, size=list(self.size), vocab=self.vocab_dict,
                         regions=self.regions, top=self.top, nouns=self.nouns,
                         max_words=self.max_words)  # fmt: skip

    @classmethod
    def from_spec_dict(cls, d: dict) -> AlignTask:
        spec, rest = split_spec_dict(d, AlignSpec)
        return cls(spec, **rest)

    @staticmethod
    def check_sample(sample: Sample) -> None:
        if not any(tokenize(c) for c in sample.captions):
            where = sample.path or f"image {sample.image_id}"
            raise DataError(where, "has no caption (alignment needs at least one per image)")

    def build_model(self) -> nn.Module:
        return AlignmentModel(self.spec)

    # ------------------------------------------------------------------ data

    def source(self) -> Callable[[Sample], Tensor]:
        if self._source is None:  # built on first use: a detector source loads a checkpoint
            self._source = region_source(self.regions, self.top)
        return self._source

    def boxes_for(self, s: Sample) -> Tensor:
        """The whole image, then the source's boxes, for a sample already at :attr:`size`."""
        h, w = s.size
        whole = torch.tensor([[0.0, 0.0, float(w), float(h)]])
        return torch.cat([whole, self.source()(s).reshape(-1, 4).float()])

    def encode(self, caption: str) -> list[int]:
        return self.vocab.encode(tokenize(caption)[: self.max_words], add_start_end=False)

    def _nouns(self, s: Sample, c: int, words: list[str]) -> list[tuple[int, Tensor]]:
        nouns = set(self.nouns)
        positions = [t for t, w in enumerate(words) if w in nouns]
        if s.phrase_objects is not None and c < len(s.phrase_objects):
            objs = s.phrase_objects[c]
            return [(t, s.boxes[o][None]) for t, o in zip(positions, objs)]
        out = []
        for t in positions:
            hit = [i for i, lab in enumerate(s.labels.tolist()) if self._class(lab) == words[t]]
            if hit:
                out.append((t, s.boxes[hit]))
        return out

    def _class(self, label: int) -> str | None:
        # nouns are the dataset's classes without "background": label 1 is nouns[0]
        return self.nouns[label - 1] if 0 < label <= len(self.nouns) else None

    def transform(self, train: bool):
        def item(sample: Sample, gen=None) -> AlignItem:
            s = resize(sample, self.size)
            caps = [c for c in s.captions if tokenize(c)]
            pick = (
                int(torch.randint(len(caps), (), generator=gen)) if train and gen is not None else 0
            )
            sentences = [self.encode(c) for c in caps]
            nouns = []
            if not train:
                nouns = [self._nouns(s, c, tokenize(cap)[: self.max_words])
                         for c, cap in enumerate(s.captions) if tokenize(cap)]  # fmt: skip
            return AlignItem(s.image, self.boxes_for(s), sentences[pick], sentences, nouns)

        return item

    collate = staticmethod(collate)

    # ------------------------------------------------------------------ loop

    def step(self, model: nn.Module, batch: AlignBatch, device) -> StepOutput:
        out = model(like_model(batch.images, model), [b.to(device) for b in batch.boxes],
                    batch.words.to(device))  # fmt: skip
        return StepOutput(out.loss, {})

    def evaluate_batch(self, model: nn.Module, batch: AlignBatch, device) -> dict:
        """The batch's region vectors and boxes, the word vectors of each of its sentences
        (which image of the batch it describes, its nouns' boxes), and its loss."""
        core = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        images = like_model(batch.images, model)
        bx = [b.to(device) for b in batch.boxes]
        out = model(images, bx, batch.words.to(device))
        sents, owner, nouns = [], [], []
        for k, rows in enumerate(batch.sentences):
            sents += rows
            owner += [k] * len(rows)
            nouns += batch.nouns[k]
        s, sm = core.embed_words(pad_words(sents).to(device))
        k = len(images)
        return {"regions": list(out.regions.cpu()), "region_masks": list(out.region_mask.cpu()),
                "boxes": [b.cpu() for b in bx], "words": [x[m].cpu() for x, m in zip(s, sm)],
                "owner": owner, "nouns": nouns, "losses": loss_sums(out.loss, k), "n": k}  # fmt: skip

    def summarize(self, parts: list[dict]) -> dict:
        v, vm = _padded([r for p in parts for r in p["regions"]],
                        [m for p in parts for m in p["region_masks"]])  # fmt: skip
        words = [w for p in parts for w in p["words"]]
        s, sm = _padded(words)
        owner, nouns, n = [], [], 0
        for p in parts:
            owner += [n + k for k in p["owner"]]
            nouns += p["nouns"]
            n += p["n"]
        scores = torch.cat([alignment_scores(v, vm, s[i : i + 256], sm[i : i + 256])
                            for i in range(0, len(s), 256)], 1)  # fmt: skip
        metrics = {**retrieval_metrics(scores, torch.tensor(owner)), **loss_means(parts)}
        boxes = [b for p in parts for b in p["boxes"]]
        metrics.update(self._alignment(v, vm, boxes, words, owner, nouns))
        return metrics

    def _alignment(self, v, vm, boxes, words, owner, nouns) -> dict:
        hits, chance = [], []
        for s_words, k, targets in zip(words, owner, nouns):
            if not targets:
                continue
            best = best_regions(v[k], vm[k], s_words)
            for t, cand in targets:
                hits.append(float(alignment_hits(boxes[k][best[t]][None].cpu(), [cand])[0]))
                ious = box_iou(boxes[k].cpu(), cand.float()).amax(1)
                chance.append(float((ious >= 0.5).float().mean()))
        if not hits:
            return {}
        return {"align_acc": sum(hits) / len(hits), "chance_align_acc": sum(chance) / len(chance),
                "align_nouns": float(len(hits))}  # fmt: skip

    @torch.inference_mode()
    def predict(self, model: nn.Module, images: Tensor, sentence: str | None = None) -> list:
        """For each ``float (N, 3, H, W)`` image in ``[0, 1]``: its region boxes (input pixels,
        ``xyxy``) and, with a ``sentence``, ``(word, box index, score)`` for each word and the
        image-sentence score ``S``."""
        model.eval()
        device = model_device(model)
        out = []
        for img in images:
            h, w = img.shape[-2:]
            x = resize_images(img[None].to(device), self.size)
            s = Sample((x[0] * 255).round().clamp(0, 255).to(torch.uint8).cpu())
            bx = self.boxes_for(s)
            sx, sy = w / self.size[1], h / self.size[0]
            rec = {"boxes": bx * torch.tensor([sx, sy, sx, sy])}
            if sentence is not None:
                ids = self.encode(sentence)
                if not ids:
                    raise ValueError(f"sentence {sentence!r} has no words")
                o = model(like_model(x, model), [bx.to(device)], pad_words([ids]).to(device))
                best = best_regions(o.regions[0], o.region_mask[0], o.words[0])
                dots = (o.words[0] @ o.regions[0].T).amax(1)
                words = tokenize(sentence)[: self.max_words]
                rec["words"] = [(wd, int(b), float(d)) for wd, b, d in zip(words, best, dots)]
                rec["score"] = float(o.scores[0, 0])
            out.append(rec)
        return out


__all__ = ["AlignTask", "grid_boxes", "region_source", "ranking_loss"]
