"""The peer of ``benchmarks/export.py``: Ultralytics YOLO26n (from its YAML, untrained, one
class like our Penn-Fudan grid) exported to ONNX by Ultralytics and run with onnxruntime at the
same threads, beside our grid's exported graph on the same letterboxed input.

Two views, because the two graphs do not hold the same work: ``graph``: one
``InferenceSession.run`` on a ``1x3xSxS`` input (ours holds NMS; YOLO26n's export here holds
none); ``end_to_end``: an image in, detections in its pixels out (ours: ``task.predict`` of
the export; YOLO26n: Ultralytics' own predictor on the ONNX file, its pre- and
post-processing, NMS included).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from _common import timed_passes

from regionlab.comparison.peer_yolo import offline


def yolo26n_onnx(work: Path, size: int, threads: int) -> Path:
    """YOLO26n with one class, exported by Ultralytics (offline, no weights)."""
    offline(threads)
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    cfg = yaml_model_load("yolo26n.yaml")  # its YAML with the n scale, as YOLO() reads it
    cfg["nc"] = 1
    cfg_path = Path(work) / "yolo26n.yaml"
    cfg_path.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if k != "yaml_file"}))
    yolo = YOLO(str(cfg_path))
    cwd = os.getcwd()
    os.chdir(work)  # Ultralytics writes next to the (virtual) weights file
    try:
        path = yolo.export(format="onnx", imgsz=size, simplify=False, dynamic=False, batch=1,
                           device="cpu")  # fmt: skip
    finally:
        os.chdir(cwd)
    return Path(work) / path if not Path(path).is_absolute() else Path(path)


def measure_peer(grid_export: Path, images: list[torch.Tensor], size: int, threads: int,
                 repeats: int, work: Path) -> dict:  # fmt: skip
    """``images``: float ``(3, H, W)`` in ``[0, 1]`` (the grid's benchmark images)."""
    import onnxruntime as ort
    from ultralytics import YOLO

    from regionlab.export import load_exported

    yolo_path = yolo26n_onnx(work, size, threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    yolo_sess = ort.InferenceSession(str(yolo_path), options, providers=["CPUExecutionProvider"])
    ours = load_exported(grid_export)
    ours_graph = ours.model.graph
    square = [torch.nn.functional.interpolate(i[None], size=(size, size), mode="bilinear")
              for i in images]  # fmt: skip
    arrays = [
        (i.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)[..., ::-1].copy()
        for i in images
    ]  # fmt: skip  (BGR, as Ultralytics reads files)
    yolo_e2e = YOLO(str(yolo_path), task="detect")
    runners = {
        "grid_graph": lambda x: ours_graph(x),
        "yolo26n_graph": lambda x: yolo_sess.run(None, {"images": x.numpy()}),
        "grid_end_to_end": lambda x: ours.predict_tensor(x[None]),
        "yolo26n_end_to_end": lambda a: yolo_e2e.predict(
            a, imgsz=size, device="cpu", verbose=False, conf=0.001
        ),
    }
    inputs = {"grid_graph": square, "yolo26n_graph": square, "grid_end_to_end": images,
              "yolo26n_end_to_end": arrays}  # fmt: skip
    with torch.inference_mode():
        out = timed_passes(runners, inputs, repeats)
    out["threads_seen"] = torch.get_num_threads()
    out["yolo26n_outputs"] = [o.name for o in yolo_sess.get_outputs()]
    return out
