"""``regionlab train caption``: image captioning (a CNN encoder, an RNN / LSTM decoder)."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import add_backbone_flags, size_type
from regionlab.cli.taskcli import Option, TaskCLI

BUILD = BUILDERS["caption"]  # the task from these flags (regionlab.api.builders.language)


def add_flags(p) -> None:
    add_backbone_flags(p, "default: 16, 32, 64, 128")
    p.add_argument(
        "--size", type=size_type, help="input size N or HxW (default: scenes' own, 128 for photos)"
    )
    p.add_argument(
        "--cell",
        choices=["lstm", "rnn_tanh", "rnn_relu", "gru"],
        default="lstm",
        help="decoder: our LSTM or vanilla RNN (tanh / ReLU), or torch's GRU as a baseline",
    )
    p.add_argument(
        "--image-input",
        choices=["bias", "first"],
        default="bias",
        help="bias: the image is a bias on the first step (Karpathy & Fei-Fei's multimodal "
        "RNN); first: the image is the first input (Show and Tell)",
    )
    p.add_argument("--embed", type=int, default=64, help="word embedding size")
    p.add_argument("--hidden", type=int, default=256, help="decoder state size")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout on the decoder output")
    p.add_argument("--min-count", type=int, default=1, help="rarer training words become UNK")
    p.add_argument("--beam", type=int, default=1, help="beam width of evaluation (1: greedy)")
    p.add_argument("--max-words", type=int, default=20, help="longest caption, in words")
    p.add_argument("--flip", type=float, default=0.0, help="flip probability (swaps left/right)")


def task_class():
    from regionlab.tasks.captioning import CaptionTask

    return CaptionTask


def before_eval(task, options: dict) -> None:
    """``eval --beam N``: the beam width of this evaluation (the checkpoint's otherwise)."""
    beam = options["beam"]
    if beam is not None:
        if beam < 1:
            raise ValueError(f"--beam must be >= 1, got {beam}")
        task.beam = beam


BEAM = Option("--beam", "beam width (1: greedy; default: the checkpoint's)", type=int)

CLI = TaskCLI(
    name="caption",
    help="image captioning: a sentence for every image",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    eval_options=(BEAM,),
    before_eval=before_eval,
)
