"""The ``yolo26n`` and ``yolov8n`` peers: Ultralytics YOLO built from its YAML (no pretrained
weights) with its own training recipe, on the comparison's train split written out as a YOLO
folder, for the comparison's time budget and threads; it predicts the report images, which our
evaluator scores (:mod:`regionlab.comparison.peer_run`).

Nothing goes to the network or to Ultralytics' own folders: ``YOLO_OFFLINE=1``, its font check
off, ``plots=False``, every file under the run's folder. Its validation set is the tune split,
so the ``best.pt`` Ultralytics keeps (and its ``YOLO`` object loads after training, the model
that predicts here) is chosen on the tune split only; ``val=False`` skips its per-epoch
validation, not the final one. Its threads: ``torch.set_num_threads`` (by ``peer_run``)
and ``ultralytics.utils.NUM_THREADS`` / ``torch_utils.NUM_THREADS``. Needs the ``bench`` extra.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from regionlab.comparison.peers import PeerJob, PeerResult, model_facts, timed_predictions

SIZE = 320  # Ultralytics' imgsz, as the tv-frcnn peer's


def offline(threads: int) -> None:
    """Ultralytics without network (``YOLO_OFFLINE``, no font download) on ``threads``
    threads (its own ``NUM_THREADS``; torch's are set by the caller)."""
    os.environ["YOLO_OFFLINE"] = "1"
    import ultralytics.data.utils as du
    import ultralytics.utils as uu
    import ultralytics.utils.torch_utils as tu

    du.check_font = lambda *a, **k: None  # it would fetch Arial.ttf from the network
    uu.NUM_THREADS = tu.NUM_THREADS = threads


def read_image(path: Path):
    """The image as Ultralytics' predict reads a path (BGR ``uint8 (H, W, 3)``), or the path
    itself for a format its reader leaves to PIL (its predict then reads it)."""
    from ultralytics.utils.patches import imread

    image = imread(path)
    return str(path) if image is None else image


def polygon(mask) -> list[float] | None:
    """The outline of a ``bool (H, W)`` mask's largest region as normalised ``x y`` pairs
    (YOLO segmentation labels), or ``None`` for an empty mask."""
    import cv2
    import numpy as np

    m = np.ascontiguousarray(mask.numpy().astype(np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(float)
    if len(c) < 3:
        return None
    h, w = m.shape
    return [v for x, y in c for v in (x / w, y / h)]


def rasterize(polygons, size: tuple[int, int]):
    """Predicted outlines (pixel ``(K, 2)`` arrays) -> ``bool (N, H, W)`` masks."""
    import cv2
    import numpy as np
    import torch

    masks = np.zeros((len(polygons), *size), np.uint8)
    for m, p in zip(masks, polygons):
        if len(p) >= 3:
            cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    return torch.from_numpy(masks).bool()


def peer_masks(result):
    """``bool (N, H, W)`` of one Ultralytics result predicted with ``retina_masks=True`` (its
    masks upsampled to the image's own size by Ultralytics). Its outlines (``masks.xy``) filled
    again lose a pixel's rim and every hole: a 16 px object drawn 15 px wide is IoU 0.88 before
    any error of the model's, which fails AP's 0.90 and 0.95 thresholds."""
    import torch

    h, w = result.orig_shape
    if result.masks is None:
        return torch.zeros((0, h, w), dtype=torch.bool)
    masks = result.masks.data.cpu() > 0.5
    if tuple(masks.shape[-2:]) != (h, w):
        raise ValueError(f"peer masks are {tuple(masks.shape[-2:])}, not the image's {(h, w)}")
    return masks


def export_yolo(dataset, root: Path, masks: bool = False) -> list[Path]:
    """``dataset`` as a YOLO folder under ``root`` (``images/``: links to the files, PNGs of
    generated scenes; ``labels/*.txt``: boxes, or with ``masks`` each object's outline;
    crowds left out); returns the images in order."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(dataset)):
        s = dataset[i]
        src = Path(s.path) if getattr(s, "path", None) else None
        if src is not None and src.is_file():
            dst = root / "images" / f"{i:05d}{src.suffix}"
            if not dst.exists():
                dst.symlink_to(src.resolve())
        else:  # drawn by code (scenes): write the pixels
            dst = root / "images" / f"{i:05d}.png"
            if not dst.exists():
                Image.fromarray(s.image.permute(1, 2, 0).numpy()).save(dst)
        h, w = s.image.shape[-2:]
        lines = []
        for k, ((x1, y1, x2, y2), c, crowd) in enumerate(
            zip(s.boxes.tolist(), s.labels.tolist(), s.iscrowd.tolist())
        ):
            if crowd:
                continue
            if not masks:
                lines.append(f"{c - 1} {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} "
                             f"{(x2 - x1) / w} {(y2 - y1) / h}")  # fmt: skip
            elif (outline := polygon(s.masks[k])) is not None:
                lines.append(f"{c - 1} " + " ".join(f"{v:.6f}" for v in outline))
        (root / "labels" / f"{dst.stem}.txt").write_text("\n".join(lines) + "\n")
        paths.append(dst)
    return paths


class YoloPeer:
    def __init__(self, config: str) -> None:
        self.config = config  # an Ultralytics model YAML, e.g. "yolov8n" or "yolov8n-seg"
        self.masks = config.endswith("-seg")

    def run(self, job: PeerJob) -> PeerResult:
        import torch

        from regionlab.api.prepare import classes_of
        from regionlab.api.specs import open_dataset
        from regionlab.ops.detections import Detections

        if job.minutes is None:
            raise ValueError(f"{self.config}: a peer needs a time budget (--minutes)")
        offline(job.threads)
        from ultralytics import YOLO

        train = open_dataset(job.train)
        names = dict(enumerate(classes_of(train)[1:]))  # our label 0 is the background
        data = job.out / "data"
        export_yolo(train, data / "train", self.masks)
        export_yolo(open_dataset(job.tune, split="val"), data / "tune", self.masks)
        report = export_yolo(open_dataset(job.report, split="val"), data / "report", self.masks)
        yaml = job.out / "data.yaml"
        yaml.write_text(f"path: {data}\ntrain: train/images\nval: tune/images\nnames: {names}\n")
        device = 0 if torch.cuda.is_available() else "cpu"
        model = YOLO(f"{self.config}.yaml")
        batches = []  # images seen: batches x the batch size (a time-cut last batch counts whole)
        model.add_callback("on_train_batch_end", lambda tr: batches.append(tr.batch_size))
        t0 = time.perf_counter()
        model.train(data=str(yaml), imgsz=SIZE, device=device, workers=0, plots=False,
                    val=False, time=job.minutes / 60, seed=job.seed, project=str(job.out),
                    name="train", exist_ok=True, verbose=False, amp=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        facts = model_facts(model.model, (SIZE, SIZE))  # before predict fuses its conv + BN
        # the image read untimed, as ours: its own pre- and post-processing timed
        results, ms = timed_predictions(
            len(report), lambda i: read_image(report[i]),
            lambda bgr: model.predict(bgr, imgsz=SIZE, conf=0.001, iou=0.7, max_det=100,
                                      device=device, verbose=False, retina_masks=self.masks)[0],
        )  # fmt: skip
        preds = []
        for r in results:
            b = r.boxes
            masks = None
            if self.masks:  # its own masks at the image's size (retina_masks), as it scores them
                masks = peer_masks(r)
            preds.append(Detections(b.xyxy.float().cpu(), b.cls.long().cpu() + 1,
                                    b.conf.float().cpu(), masks=masks))  # fmt: skip
        epoch = getattr(model.trainer, "epoch", None)
        notes = {"epochs": None if epoch is None else epoch + 1, "ultralytics_config": self.config,
                 "train_images": sum(batches), "test_ms_per_image": ms,
                 "model": facts}  # fmt: skip
        return PeerResult(preds, seconds, None, notes)


YOLO26N = YoloPeer("yolo26n")
YOLOV8N = YoloPeer("yolov8n")
YOLO26N_SEG = YoloPeer("yolo26n-seg")
YOLOV8N_SEG = YoloPeer("yolov8n-seg")
