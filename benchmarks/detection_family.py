"""Object detection, part 2: the whole lecture line on the same data and budget.

Sliding window -> R-CNN (warped and padded crops) -> Fast R-CNN -> Faster R-CNN, with the grid
detector and the peers (torchvision Faster R-CNN MobileNetV3-320, Ultralytics YOLO26n) in the
same run; everything else as ``benchmarks/detection.py`` (same runner, 1 thread per run, two at
a time, the same COCO evaluator, test seconds per image timed alone afterwards).

    python benchmarks/detection_family.py --only scenes                  # 5 minutes per run
    python benchmarks/detection_family.py --only pennfudan --minutes 15 --workdir runs/family

Writes benchmarks/results/detection_family.json and .png. Selective-search proposals are
cached under ``~/.cache/regionlab/proposals`` (the first epoch of R-CNN / Fast R-CNN pays for
them; see ``regionlab proposals eval`` for their recall).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detection  # noqa: E402

FAMILY = ["sliding-window", "rcnn", "rcnn-pad", "fast-rcnn", "faster-rcnn", "grid"]
PEERS = ["tv-frcnn", "yolo26n"]

if __name__ == "__main__":
    for name, (minutes, train, val, _) in list(detection.SETUPS.items()):
        peers = [] if name == "scenes" else PEERS
        detection.SETUPS[name] = (minutes, train, val, FAMILY + peers)
    if "--name" not in sys.argv:
        sys.argv += ["--name", "detection_family"]
    detection.main()
