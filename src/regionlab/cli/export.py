"""``regionlab export CKPT --format onnx|torchscript``: a training checkpoint as a file that
runs without regionlab's training code (onnxruntime, or ``torch.jit.load``), carrying its task,
class names and input size. ``regionlab predict`` and ``regionlab.load`` run it back."""

from __future__ import annotations

import argparse

from regionlab.cli.common import HelpFormatter

DESCRIPTION = """\
Write a training checkpoint as a file that runs without regionlab's training code: ONNX
(onnxruntime; the `export` extra) or TorchScript (torch.jit.load). The file carries its task,
spec, class names and input size; `regionlab predict FILE images...` runs it back.

  regionlab export runs/det/best.pt                     -> runs/det/best.onnx
  regionlab export runs/seg/best.pt --format torchscript --size 240x320"""


def size_type(text: str) -> tuple[int, int]:
    """``HxW`` (or one number for a square) -> ``(H, W)``."""
    parts = text.lower().split("x")
    try:
        hw = [int(p) for p in parts]
    except ValueError:
        hw = []
    if len(hw) == 1:
        hw = hw * 2
    if len(hw) != 2 or min(hw) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 320x320), got {text!r}")
    return hw[0], hw[1]


def cmd_export(args) -> int:
    from regionlab.export.exporters import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.out, args.format, size=args.size,
                             dynamic=args.dynamic, opset=args.opset, iou=args.iou,
                             max_det=args.max_det)  # fmt: skip
    print(path)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``export`` to a command's sub-parsers."""
    p = subparsers.add_parser(
        "export",
        help="write a checkpoint as ONNX or TorchScript",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                   help="onnx: onnxruntime and other runtimes; torchscript: torch.jit.load")  # fmt: skip
    p.add_argument("--out", help="output file (default: next to the checkpoint, "
                   "NAME.onnx or NAME.torchscript.pt)")  # fmt: skip
    p.add_argument("--size", type=size_type,
                   help="input size HxW of the graph (default: the training size)")  # fmt: skip
    p.add_argument("--dynamic", action="store_true",
                   help="ONNX: a free batch dimension (detectors take one image at a time)")  # fmt: skip
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (16 or later)")
    p.add_argument("--iou", type=float,
                   help="detectors: the NMS IoU fixed in the graph (default: the checkpoint's)")  # fmt: skip
    p.add_argument("--max-det", type=int,
                   help="detectors: the most objects per image the graph returns "
                   "(default: the checkpoint's)")  # fmt: skip
    p.set_defaults(func=cmd_export)
    return p
