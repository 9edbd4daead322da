"""``regionlab train align``: region-word alignment (Karpathy & Fei-Fei's image-sentence
embedding), with retrieval and alignment accuracy; ``predict --text`` draws each word at its
region."""

from __future__ import annotations

from regionlab.cli.common import add_backbone_flags, build_vocabulary, size_type
from regionlab.cli.prepare import classes_of, default_size
from regionlab.cli.taskcli import Option, TaskCLI

RECIPE = {"batch_size": 32, "lr": 1e-3}


def add_flags(p) -> None:
    add_backbone_flags(p, "default: 16, 32, 64, 128")
    p.add_argument(
        "--size", type=size_type, help="input size N or HxW (default: scenes' own, 160 for photos)"
    )
    p.add_argument(
        "--regions",
        default="grid",
        help="region source besides the whole image: grid (22 fixed windows), selective-search, "
        "gt (ground-truth boxes, a ceiling) or detector:PATH (a detect checkpoint's best boxes, "
        "the paper's choice)",
    )
    p.add_argument("--top", type=int, default=19, help="boxes kept from a ranked source")
    p.add_argument(
        "--cell",
        choices=["rnn_relu", "rnn_tanh", "lstm"],
        default="rnn_relu",
        help="the bidirectional RNN over the words (ReLU is the paper's)",
    )
    p.add_argument("--embed", type=int, default=64, help="word embedding size")
    p.add_argument("--hidden", type=int, default=256, help="h, the shared region-word space")
    p.add_argument("--stride", type=int, default=8, help="feature map the regions are cut from")
    p.add_argument("--roi", type=int, default=4, help="RoIAlign grid per region")
    p.add_argument("--margin", type=float, default=1.0, help="margin of the ranking loss")
    p.add_argument("--min-count", type=int, default=1, help="rarer training words become UNK")
    p.add_argument("--max-words", type=int, default=20, help="longest sentence, in words")


def build(args, train_set):
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
    task.source()  # a bad --regions fails here, before training
    return task


def task_class():
    from regionlab.tasks.alignment import AlignTask

    return AlignTask


def draw(task, model, image, text: str | None = None):
    """The image with each word of ``text`` written at the corner of its best-aligned region
    (the region outlined in the word's colour), the words and S under the picture."""
    from PIL import Image, ImageDraw

    if not text:
        raise ValueError("an alignment checkpoint draws a sentence on the image: give --text")
    rec = task.predict(model, image[None].float() / 255, sentence=text)[0]
    pic = Image.fromarray(image.permute(1, 2, 0).numpy())
    scale = max(1, 384 // max(pic.size))
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
    lines = 2 + len(rec["words"]) // 6
    out = Image.new("RGB", (max(pic.width, 360), pic.height + 14 * lines), "white")
    out.paste(pic, (0, 0))
    d = ImageDraw.Draw(out)
    palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6"]
    used: dict[int, int] = {}
    for word, b, _ in rec["words"]:
        if b == 0 and len(rec["words"]) > 1:
            continue  # words on the whole image would all pile up at its corner
        x0, y0, x1, y1 = (rec["boxes"][b] * scale).tolist()
        col = palette[b % len(palette)]
        d.rectangle([x0, y0, x1 - 1, y1 - 1], outline=col, width=2)
        d.text((x0 + 2, y0 + 2 + 10 * used.get(b, 0)), word, fill=col)
        used[b] = used.get(b, 0) + 1
    legend = " ".join(f"{w}->{b}" for w, b, _ in rec["words"])
    for i in range(0, len(legend), 60):
        d.text((4, pic.height + 2 + 14 * (i // 60)), legend[i : i + 60], fill="black")
    d.text((4, out.height - 13), f"S = {rec['score']:.2f} (region 0 = whole image)", fill="black")
    return out


def records(task, model, image, image_id, text: str | None = None) -> list[dict]:
    rec = task.predict(model, image[None].float() / 255, sentence=text)[0]
    out = {"image_id": image_id, "boxes": rec["boxes"].tolist()}
    if text:
        out.update(score=rec["score"], words=[{"word": w, "region": b, "dot": s}
                                              for w, b, s in rec["words"]])  # fmt: skip
    return [out]


CLI = TaskCLI(
    name="align",
    help="region-word alignment: an image-sentence embedding (retrieval, word -> region)",
    add_flags=add_flags,
    build=build,
    task_class=task_class,
    draw=draw,
    recipe=RECIPE,
    records=records,
    # draw and records take the sentence: ``predict --text``
    predict_options=(Option("--text", "a sentence to align with each image", required=True),),
)
