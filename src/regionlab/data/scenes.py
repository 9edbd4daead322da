"""Built-in synthetic scenes: every command runs with no download.

A scene is a textured, cluttered background with a few shapes (circle, square, triangle) of
random colour, size and rotation that overlap and occlude each other. Clutter strokes and rings
reuse the shapes' colours, and shapes are shaded, so colour alone does not separate classes.
Everything later tasks need is produced from the same drawing: semantic mask, visible instance
masks, boxes of the visible part, keypoints and a caption.

Generation is a pure function of ``(seed, index)``, so a dataset is deterministic and can be
regenerated identically in any worker process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from regionlab.data.sample import Dataset, Sample

SHAPES = ("circle", "square", "triangle")
CLASSES = ["background", *SHAPES]

# Named colours for captions; each drawn colour is jittered around its base.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 200),
    "yellow": (220, 200, 40),
    "purple": (140, 50, 170),
    "orange": (230, 120, 30),
    "white": (230, 230, 230),
    "black": (30, 30, 30),
}
TEXTURES = ("striped", "checkered", "noisy", "smooth")

#: Keypoints per object: centre, then three points on the outline (triangle: vertices; square:
#: three corners clockwise from the top-most; circle: the outline at -90, 30 and 150 degrees).
NUM_KEYPOINTS = 4


@dataclass(frozen=True)
class SceneConfig:
    """How scenes look. ``size`` is the square image side in pixels."""

    size: int = 96
    min_objects: int = 1
    max_objects: int = 4
    min_scale: float = 0.15  # object radius as a fraction of ``size``
    max_scale: float = 0.28
    clutter: int = 6  # number of distractor strokes
    min_visible: float = 0.5  # an occluded object keeps at least this fraction of its area
    contrast: tuple[float, float] = (0.0, 0.6)  # background texture amplitude, drawn per scene


def _texture(
    rng: np.random.Generator, s: int, contrast: tuple[float, float]
) -> tuple[np.ndarray, str]:
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    amp = rng.uniform(*contrast)
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    c2 = rng.integers(0, 256, 3).astype(np.float32)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    if kind == "striped":
        ang = rng.uniform(0, math.pi)
        period = rng.uniform(4, 14)
        t = np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * 2 * math.pi / period) > 0
        t = t.astype(np.float32)
    elif kind == "checkered":
        cell = int(rng.integers(4, 12))
        t = (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
    elif kind == "noisy":
        low = rng.random((s // 8 + 2, s // 8 + 2)).astype(np.float32)
        t = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((s, s), Image.BILINEAR))
        t = t.astype(np.float32) / 255.0
    else:
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang)) / s * 0.5 + 0.5
    t = 0.5 + amp * (t - 0.5)
    img = c1[None, None] * (1 - t[..., None]) + c2[None, None] * t[..., None]
    img += rng.normal(0, 8, img.shape).astype(np.float32)
    return img, kind


def _outline(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        angles = [rot + k * 2 * math.pi / 3 for k in range(3)]
    elif shape == "square":
        angles = [rot + math.pi / 4 + k * math.pi / 2 for k in range(4)]
    else:
        angles = [k * 2 * math.pi / 48 for k in range(48)]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]


def _keypoints(shape: str, cx: float, cy: float, r: float, pts: list) -> list[tuple[float, float]]:
    if shape == "circle":
        outline = [
            (cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
            for a in (-90, 30, 150)
        ]
    else:
        # Start at the top-most vertex and go clockwise (image y points down), so the order is
        # defined by what is visible rather than by the hidden rotation parameter.
        top = min(range(len(pts)), key=lambda i: (pts[i][1], pts[i][0]))
        ordered = sorted(
            pts,
            key=lambda p: (
                (math.atan2(p[1] - cy, p[0] - cx) - math.atan2(pts[top][1] - cy, pts[top][0] - cx))
                % (2 * math.pi)
            ),
        )
        outline = ordered[:3]
    return [(cx, cy), *outline]


def _size_word(r: float, cfg: SceneConfig) -> str:
    mid = (cfg.min_scale + cfg.max_scale) / 2 * cfg.size
    return "large" if r > mid * 1.15 else "small" if r < mid * 0.85 else ""


@dataclass
class _Object:
    """One drawn shape: centre ``(cx, cy)`` and radius ``r`` in pixels, rotation-applied outline
    ``pts``, named ``colour`` with its jittered RGB ``base`` (float32 ``(3,)``), and ``mask``, its
    full (unoccluded) bool ``(s, s)`` silhouette."""

    shape: str
    cx: float
    cy: float
    r: float
    pts: list[tuple[float, float]]
    colour: str
    base: np.ndarray
    size_word: str
    mask: np.ndarray


def _mention_order(objs: list[_Object]) -> list[int]:
    """The caption names the objects left to right (by centre)."""
    return sorted(range(len(objs)), key=lambda i: objs[i].cx)


def _caption(objs: list[_Object], texture: str) -> str:
    objs = [objs[i] for i in _mention_order(objs)]
    parts = []
    for o in objs:
        words = [w for w in (o.size_word, o.colour, o.shape) if w]
        parts.append(" ".join(words))
    phrases = [("an " if p[0] in "aeiou" else "a ") + p for p in parts]
    body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{body} on a {texture} background"


def _draw_clutter(canvas: Image.Image, rng: np.random.Generator, cfg: SceneConfig) -> None:
    """Strokes and rings in object-like colours on ``canvas``, so colour alone is not a cue."""
    s = cfg.size
    draw = ImageDraw.Draw(canvas)
    names = list(COLOURS)
    for _ in range(cfg.clutter):
        col = tuple(
            int(c)
            for c in np.clip(
                np.array(COLOURS[names[rng.integers(len(names))]]) + rng.normal(0, 20, 3), 0, 255
            )
        )
        x0, y0 = rng.uniform(0, s, 2)
        if rng.random() < 0.7:
            x1, y1 = x0 + rng.normal(0, s / 3), y0 + rng.normal(0, s / 3)
            draw.line([(x0, y0), (x1, y1)], fill=col, width=int(rng.integers(1, 4)))
        else:
            rr = rng.uniform(s * 0.03, s * 0.08)
            draw.ellipse([x0 - rr, y0 - rr, x0 + rr, y0 + rr], outline=col, width=1)


def _try_object(
    rng: np.random.Generator, cfg: SceneConfig, below: list[np.ndarray]
) -> _Object | None:
    """One random shape drawn on top of the full masks ``below`` (bottom first), or ``None`` when
    it is too small or would hide more than ``1 - min_visible`` of an earlier object."""
    s = cfg.size
    shape = SHAPES[rng.integers(len(SHAPES))]
    r = rng.uniform(cfg.min_scale, cfg.max_scale) * s
    cx, cy = rng.uniform(r * 0.6, s - r * 0.6, 2)
    rot = rng.uniform(0, 2 * math.pi)
    pts = _outline(shape, cx, cy, r, rot)
    m_img = Image.new("L", (s, s), 0)
    ImageDraw.Draw(m_img).polygon(pts, fill=255)
    m = np.asarray(m_img) > 127
    if m.sum() < 12:
        return None
    if any(
        (fm & ~m & ~_union(below[j + 1 :], s)).sum() < cfg.min_visible * fm.sum()
        for j, fm in enumerate(below)
    ):
        return None
    names = list(COLOURS)
    cname = names[rng.integers(len(names))]
    base = np.array(COLOURS[cname], dtype=np.float32) + rng.normal(0, 15, 3)
    return _Object(shape, cx, cy, r, pts, cname, base, _size_word(r, cfg), m)


def _place_objects(rng: np.random.Generator, cfg: SceneConfig) -> list[_Object]:
    """Between ``min_objects`` and ``max_objects`` shapes, bottom first (50 tries at most)."""
    n_target = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objs: list[_Object] = []
    tries = 0
    while len(objs) < n_target and tries < 50:
        tries += 1
        o = _try_object(rng, cfg, [p.mask for p in objs])
        if o is not None:
            objs.append(o)
    return objs


def _paint_objects(
    canvas: Image.Image, objs: list[_Object], rng: np.random.Generator, s: int
) -> np.ndarray:
    """The final ``uint8 (s, s, 3)`` image: each object painted over ``canvas`` in order."""
    arr = np.asarray(canvas).astype(np.float32)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    for o in objs:
        # Shading across the object so its colour is not flat.
        ang = rng.uniform(0, 2 * math.pi)
        shade = 1.0 + 0.25 * ((xx - o.cx) * math.cos(ang) + (yy - o.cy) * math.sin(ang)) / o.r
        col = o.base[None, None] * shade[..., None] + rng.normal(0, 6, (s, s, 3))
        arr[o.mask] = col[o.mask]
    return np.clip(arr, 0, 255).astype(np.uint8)


def _keypoint_rows(o: _Object, visible: np.ndarray, s: int) -> np.ndarray:
    """``float32 (NUM_KEYPOINTS, 3)`` ``(x, y, v)``: v 0 outside the image, 2 on the visible
    part of the object, 1 occluded."""
    rows = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    for k, (px, py) in enumerate(_keypoints(o.shape, o.cx, o.cy, o.r, o.pts)):
        inside = 0 <= px < s and 0 <= py < s
        vis = 0 if not inside else (2 if visible[min(int(py), s - 1), min(int(px), s - 1)] else 1)
        rows[k] = (px, py, vis)
    return rows


def _targets(objs: list[_Object], s: int, texture: str) -> dict:
    """Every annotation of the drawn objects, as the :class:`Sample` fields they fill."""
    n = len(objs)
    full = [o.mask for o in objs]
    visible = [m & ~_union(full[i + 1 :], s) for i, m in enumerate(full)]
    semantic = np.zeros((s, s), dtype=np.int64)
    boxes = np.zeros((n, 4), dtype=np.float32)
    kps = np.zeros((n, NUM_KEYPOINTS, 3), dtype=np.float32)
    for i, (o, v) in enumerate(zip(objs, visible)):
        semantic[v] = SHAPES.index(o.shape) + 1
        ys, xs = np.nonzero(v)
        boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        kps[i] = _keypoint_rows(o, v, s)
    masks = torch.from_numpy(np.stack(visible)) if n else torch.zeros((0, s, s), dtype=torch.bool)
    return dict(
        semantic=torch.from_numpy(semantic),
        masks=masks,
        boxes=torch.from_numpy(boxes),
        labels=torch.tensor([SHAPES.index(o.shape) + 1 for o in objs], dtype=torch.int64),
        keypoints=torch.from_numpy(kps),
        captions=[_caption(objs, texture)] if n else [f"a {texture} background"],
        phrase_objects=[_mention_order(objs)],
    )


def render_scene(seed: int, index: int, cfg: SceneConfig = SceneConfig()) -> Sample:
    """Draw scene number ``index`` of the stream ``seed``. Pure and deterministic.

    The steps draw from one generator in a fixed order (texture, clutter, objects, shading), so
    reordering them changes every scene."""
    rng = np.random.default_rng([seed, index])
    img, texture = _texture(rng, cfg.size, cfg.contrast)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    _draw_clutter(canvas, rng, cfg)
    objs = _place_objects(rng, cfg)
    arr = _paint_objects(canvas, objs, rng, cfg.size)
    return Sample(
        image=torch.from_numpy(arr).permute(2, 0, 1).contiguous(),
        **_targets(objs, cfg.size, texture),
        image_id=index,
        path=f"scenes://seed={seed}/{index}",
    )


def _union(masks: list[np.ndarray], s: int) -> np.ndarray:
    out = np.zeros((s, s), dtype=bool)
    for m in masks:
        out |= m
    return out


class SceneDataset(Dataset):
    """``n`` deterministic scenes from stream ``seed``; ``split`` offsets the stream so train and
    validation never share a scene. Rendered scenes are cached in memory (about 28 KB each at 96 px).
    """

    classes = CLASSES
    num_keypoints = NUM_KEYPOINTS
    generated = True
    keypoint_names = ["centre", "outline 1", "outline 2", "outline 3"]
    skeleton = [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3], [3, 1]]

    def __init__(
        self,
        n: int = 1000,
        *,
        seed: int = 0,
        split: str = "train",
        config: SceneConfig = SceneConfig(),
        cache: bool = True,
    ) -> None:
        if n <= 0:
            raise ValueError(f"scenes: n must be positive, got {n}")
        self.n = n
        self.seed = seed
        self.split = split
        self.config = config
        # Separate streams per split: index spaces never overlap.
        self._stream = seed * 1000 + {"train": 0, "val": 1, "test": 2}.get(split, 3)
        self._cache: dict[int, Sample] | None = {} if cache else None
        self.source = f"scenes:size={config.size},n={n},seed={seed},split={split}"

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.n:
            raise IndexError(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sample = render_scene(self._stream, index, self.config)
        if self._cache is not None:
            self._cache[index] = sample
        return sample
