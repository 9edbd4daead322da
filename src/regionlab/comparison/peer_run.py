"""One peer run of a comparison, as its own process (the scheduler starts it like a ``train``):

    python -m regionlab.comparison.peer_run PEER --task detect --train SPEC --tune SPEC
        --report SPEC --seed S --threads T [--minutes M] --out RUN

It writes, in ``RUN``, what every run of a comparison has: ``run.json`` first (the command,
commit, versions, threads), then ``scores.json`` (the peer's predictions on the report images
scored by our task's evaluator, :func:`score_predictions`, with the predictions themselves in
``predictions.json`` for the report) and, last, ``metrics.json`` (the "finished" mark: training
seconds and steps, images seen, test milliseconds per image). Where the peer measures them,
``run.json`` gains its ``model`` (parameters, GFLOPs per image at its input) at the end. A peer
has one final model, recorded as both ``best`` and ``last``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from regionlab.comparison.peers import PREDICTIONS, PeerJob, load_peer
from regionlab.comparison.score import NAME as SCORES


def _truth(task: str, spec: str) -> tuple[list, list[tuple[int, int]], list[str]]:
    """The annotations of the data ``spec`` as ``Detections`` (masks for ``instance``), each
    image's ``(H, W)`` and the classes."""
    from regionlab.api.prepare import classes_of
    from regionlab.api.specs import open_dataset
    from regionlab.ops.detections import Detections

    ds = open_dataset(spec, split="val")
    gts, sizes = [], []
    for i in range(len(ds)):
        s = ds[i]
        masks = s.masks.bool() if task == "instance" else None
        gts.append(Detections(s.boxes.float(), s.labels.long(), iscrowd=s.iscrowd.bool(),
                              masks=masks, area=s.object_areas()))  # fmt: skip
        sizes.append(tuple(s.image.shape[-2:]))
    return gts, sizes, classes_of(ds)


def score_predictions(task: str, spec: str, predictions: list, out: Path | None = None) -> dict:
    """COCO metrics of ``predictions`` (one ``Detections`` per image of the data ``spec``, in
    its order and pixels, labels indexing its classes; for ``instance`` with ``bool (N, H,
    W)`` masks) against its annotations: the metrics our detectors' evaluation computes
    (:func:`regionlab.tasks.detection.coco_metrics`; boxes, and masks as ``mask_*``). With
    ``out``, the predictions are also written to ``out/predictions.json``
    (:mod:`regionlab.eval.results_file`), for the report to draw and diagnose."""
    from regionlab.tasks.detection import coco_metrics

    if task not in ("detect", "instance"):
        raise ValueError(f"scoring predictions of {task} peers is not written yet (a {task} "
                         "peer is scored by our task's evaluator: PeerResult.metrics)")  # fmt: skip
    gts, sizes, classes = _truth(task, spec)
    if len(predictions) != len(gts):
        raise ValueError(f"a peer gave {len(predictions)} predictions for {len(gts)} images")
    if out is not None:
        from regionlab.eval.results_file import write_results

        write_results(out / PREDICTIONS, predictions, sizes, spec)
    return coco_metrics(predictions, gts, sizes, classes, masks=task == "instance")


def _record(out: Path, argv: list[str], threads: int) -> dict:
    import torch

    from regionlab.atomic import write_text_atomic
    from regionlab.provenance import command_line, source_commit, versions

    record = {
        "command": command_line(["python", "-m", "regionlab.comparison.peer_run", *argv]),
        "git": source_commit(),
        "versions": versions(),
        "runtime": {
            "threads": torch.get_num_threads(),
            "requested_threads": threads,
            # the peers' own loops use no autocast (Ultralytics: amp=False, its CPU default)
            "precision": {"name": "fp32", "asked": "fp32", "reason": "the peer's own training"},
        },
    }
    write_text_atomic(out / "run.json", json.dumps(record, indent=2) + "\n")
    return record


def run(argv: list[str]) -> None:
    """Parse ``argv`` (see the module docstring), train the peer, score it, write the files."""
    import torch

    from regionlab.atomic import write_text_atomic

    ap = argparse.ArgumentParser(prog="python -m regionlab.comparison.peer_run")
    ap.add_argument("peer")
    for flag in ("--task", "--train", "--tune", "--report", "--out"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--minutes", type=float)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = _record(out, argv, args.threads)
    peer = load_peer(args.peer)
    job = PeerJob(args.task, args.train, args.tune, args.report, args.seed, args.minutes,
                  args.threads, out)  # fmt: skip
    result = peer.run(job)
    t0 = time.perf_counter()
    metrics = result.metrics
    if metrics is None:
        metrics = score_predictions(args.task, args.report, result.predictions, out)
    scores = {
        "split": "report",
        "spec": args.report,
        "checkpoints": {"best": metrics, "last": metrics},
        "note": f"{args.peer}: one final model (no best.pt), recorded as both",
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_text_atomic(out / SCORES, json.dumps(scores, indent=2) + "\n")
    if isinstance(result.notes.get("model"), dict):  # its size and FLOPs, as ours record them
        record["model"] = result.notes.pop("model")
        write_text_atomic(out / "run.json", json.dumps(record, indent=2) + "\n")
    summary = {"task": args.task, "peer": args.peer, "steps": result.steps,
               "train_seconds": round(result.seconds, 1), "final": metrics,
               **result.notes}  # fmt: skip
    write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    try:
        run(sys.argv[1:] if argv is None else argv)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"regionlab: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
