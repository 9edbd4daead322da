"""Builders of the families that read words: ``caption`` and ``align`` (see
:mod:`regionlab.api.builders.dense` for the shape of a builder)."""

from __future__ import annotations

from regionlab.api.builders.shared import build_vocabulary
from regionlab.api.prepare import classes_of, default_size

_WORDS = {"backbone": "small", "widths": None, "pretrained": None, "size": None, "embed": 64,
          "hidden": 256, "min_count": 1, "max_words": 20}  # fmt: skip
CAPTION_RECIPE = {"batch_size": 32, "lr": 2e-3}
CAPTION_DEFAULTS = {**_WORDS, "cell": "lstm", "image_input": "bias", "dropout": 0.0, "beam": 1,
                    "flip": 0.0}  # fmt: skip
ALIGN_RECIPE = {"batch_size": 32, "lr": 1e-3}
ALIGN_DEFAULTS = {**_WORDS, "regions": "grid", "top": 19, "cell": "rnn_relu", "stride": 8,
                  "roi": 4, "margin": 1.0}  # fmt: skip


def build_caption(args, train_set):
    from regionlab.models.captioning.captioner import CaptionSpec
    from regionlab.tasks.captioning import CaptionTask

    vocab = build_vocabulary(train_set, args)
    size = default_size(args, train_set, (128, 128))
    spec = CaptionSpec(
        vocab_size=len(vocab),
        cell=args.cell,
        image_input=args.image_input,
        backbone=args.backbone,
        widths=args.widths if args.widths is not None else [16, 32, 64, 128],
        pretrained=args.pretrained,
        embed=args.embed,
        hidden=args.hidden,
        dropout=args.dropout,
        max_len=args.max_words,
    )
    return CaptionTask(spec, size, vocab.to_dict(), args.beam, args.flip, args.max_words)


def build_align(args, train_set):
    from regionlab.models.alignment.model import AlignSpec
    from regionlab.tasks.alignment import AlignTask

    vocab = build_vocabulary(train_set, args)
    spec = AlignSpec(
        vocab_size=len(vocab),
        backbone=args.backbone,
        widths=args.widths if args.widths is not None else [16, 32, 64, 128],
        pretrained=args.pretrained,
        stride=args.stride,
        roi=args.roi,
        embed=args.embed,
        hidden=args.hidden,
        cell=args.cell,
        margin=args.margin,
    )
    nouns = [c for c in classes_of(train_set) if c != "background"]
    size = default_size(args, train_set, (160, 160))
    task = AlignTask(spec, size, vocab.to_dict(), args.regions, args.top, nouns, args.max_words)
    task.source()  # a bad regions option fails here, before training
    return task
