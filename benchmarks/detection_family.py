"""Object detection, part 2: the whole lecture line on the same data and budget.

Sliding window -> R-CNN (warped and padded crops) -> Fast R-CNN -> Faster R-CNN (on one map,
and on a feature pyramid, the default), with the grid detector and the peers (torchvision
Faster R-CNN MobileNetV3-320, Ultralytics YOLO26n) in the same run; everything else as
``benchmarks/detection.py`` (same runner, 1 thread per run, two at a time, the same COCO
evaluator, test seconds per image timed alone afterwards).

    python benchmarks/detection_family.py --only scenes --workdir runs/family        # 5 min a run
    python benchmarks/detection_family.py --only raccoon --workdir runs/family       # 10 min a run
    python benchmarks/detection_family.py --only pennfudan --workdir runs/family     # 15 min a run
    python benchmarks/detection_family.py --only scenes,raccoon,pennfudan --workdir runs/family \
        --reuse                                          # one table of every finished run

Writes benchmarks/results/detection_family.json and .png. Selective-search proposals of every
image R-CNN and Fast R-CNN will see are computed first (two processes), into
``~/.cache/regionlab/proposals``, so that no training budget pays for them; their seconds per
image are reported apart (``proposal_s_per_img``; recall: ``regionlab proposals eval``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detection  # noqa: E402

# Start order = pairing (two runs share the machine): Faster R-CNN beside YOLO26n, the grid
# beside torchvision, warp beside pad, Fast R-CNN beside the sliding window, and Faster R-CNN
# on one map (no pyramid) last, alone.
PHOTOS = ["faster-rcnn", "yolo26n", "grid", "tv-frcnn", "rcnn", "rcnn-pad", "fast-rcnn",
          "sliding-window", "faster-rcnn-1map"]  # fmt: skip
SCENES = ["faster-rcnn", "grid", "rcnn", "rcnn-pad", "fast-rcnn", "sliding-window",
          "faster-rcnn-1map"]  # fmt: skip
# raccoon (160 training images) at 10 minutes a run and without the one-map ablation, so that
# the three tables fit one working session; Penn-Fudan keeps the 15 minutes.
RACCOON = (10.0, PHOTOS[:-1])

if __name__ == "__main__":
    for name, (minutes, train, val, _) in list(detection.SETUPS.items()):
        runs = SCENES if name == "scenes" else PHOTOS
        if name == "raccoon":
            minutes, runs = RACCOON
        detection.SETUPS[name] = (minutes, train, val, runs)
    if "--name" not in sys.argv:
        sys.argv += ["--name", "detection_family"]
    detection.main()
