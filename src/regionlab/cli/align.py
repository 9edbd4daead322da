"""``regionlab train align``: region-word alignment (Karpathy & Fei-Fei's image-sentence
embedding), with retrieval and alignment accuracy; ``predict --text`` draws each word at its
region."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import add_backbone_flags, size_type
from regionlab.cli.taskcli import Option, TaskCLI

BUILD = BUILDERS["align"]  # the task from these flags (regionlab.api.builders.language)


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


def task_class():
    from regionlab.tasks.alignment import AlignTask

    return AlignTask


CLI = TaskCLI(
    name="align",
    help="region-word alignment: an image-sentence embedding (retrieval, word -> region)",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    # the predictions align the sentence: ``predict --text`` (regionlab.api.families)
    predict_options=(Option("--text", "a sentence to align with each image", required=True),),
)
