"""regionlab from Python, end to end: train a detector for a minute on the built-in scenes, load
it, predict a folder, export it to ONNX and predict again with onnxruntime: the same boxes.

    python examples/quickstart.py            # about 1.5 minutes on a laptop CPU
"""

import tempfile
from pathlib import Path

import torch
from PIL import Image

import regionlab
from regionlab.api.specs import open_dataset

work = Path(tempfile.mkdtemp(prefix="regionlab_quickstart_"))

# 1. Train: the same names and defaults as `regionlab train detect --data scenes ...`.
summary = regionlab.train("detect", "scenes", minutes=1, out=str(work / "run"), seed=0)
print(f"trained {summary['steps']} steps: val AP50 {summary['final']['AP50']:.3f}")

# 2. A folder of images (some of the scenes' validation images, as PNG files).
photos = work / "photos"
photos.mkdir()
val = open_dataset("scenes:n=4", split="val")
for i in range(len(val)):
    Image.fromarray(val[i].image.permute(1, 2, 0).numpy()).save(photos / f"scene_{i}.png")

# 3. Load and predict: typed results in each image's own pixels.
model = regionlab.load(work / "run" / "best.pt", conf=0.25)
results = model.predict(photos)
for r in results:
    print(Path(r.path).name, [f"{n} {s:.2f}" for n, s in zip(r.class_names, r.scores.tolist())])
results[0].plot().save(work / "scene_0_pred.png")

# 4. Export to ONNX and predict with onnxruntime: the same detections.
from regionlab.export import export_checkpoint  # noqa: E402

onnx_path = export_checkpoint(work / "run" / "best.pt", fmt="onnx")
exported = regionlab.load(onnx_path, conf=0.25).predict(photos)
for a, b in zip(results, exported):
    same = a.boxes.shape == b.boxes.shape and torch.allclose(a.boxes, b.boxes, atol=1e-3)
    print(Path(a.path).name, f"{len(a.boxes)} boxes eager, {len(b.boxes)} onnx, same: {same}")
print(f"outputs in {work}")
