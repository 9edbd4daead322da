"""Keypoint regression (pose) on one object per image as an engine task.

Each sample's largest object is cropped (its box grown by a margin) and resized; the model
regresses the keypoints normalised to that crop. Metrics are computed back in the original
image's pixels: PCK@0.2 (torso reference for 14-joint LSP skeletons, else the box size) and, for
14-joint skeletons, strict PCP.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.data.transforms import KeypointAugment, crop_to_box
from regionlab.engine.task import StepOutput
from regionlab.eval.keypoints import box_size, pck, pcp, torso_diameter
from regionlab.models.localization.builders import KeypointSpec, build_keypoint_model
from regionlab.models.localization.keypoints import KeypointTargets
from regionlab.tasks.common import (
    BatchwiseEvaluation,
    bf16_measured,
    like_model,
    loss_means,
    loss_sums,
    spec_dict,
    split_spec_dict,
)
from regionlab.tasks.localization import multitask_logs, single_object


@dataclass
class KeypointItem:
    """One object crop: ``image`` ``uint8 (3, H, W)``; ``coords`` ``(K, 2)`` normalised to the
    crop; ``labelled``/``visible`` ``bool (K,)``; ``crop_wh`` the crop's size in original pixels
    (to measure errors there); ``ref`` the PCK reference length in original pixels."""

    image: torch.Tensor
    coords: torch.Tensor
    labelled: torch.Tensor
    visible: torch.Tensor
    crop_wh: torch.Tensor
    ref: float
    image_id: int | str


@dataclass
class KeypointBatch:
    images: torch.Tensor  # float (N, 3, H, W) in [0, 1]
    coords: torch.Tensor  # (N, K, 2)
    labelled: torch.Tensor  # bool (N, K)
    visible: torch.Tensor  # bool (N, K)
    crop_wh: torch.Tensor  # (N, 2)
    ref: torch.Tensor  # (N,)
    ids: list

    def targets(self, device: torch.device) -> KeypointTargets:
        return KeypointTargets(
            self.coords.to(device), self.labelled.to(device), self.visible.to(device)
        )


def collate(items: list[KeypointItem]) -> KeypointBatch:
    return KeypointBatch(
        torch.stack([i.image for i in items]).float().div_(255.0),
        torch.stack([i.coords for i in items]),
        torch.stack([i.labelled for i in items]),
        torch.stack([i.visible for i in items]),
        torch.stack([i.crop_wh for i in items]),
        torch.tensor([i.ref for i in items], dtype=torch.float64),
        [i.image_id for i in items],
    )


class KeypointTask(BatchwiseEvaluation):
    """``size``: crop size ``(H, W)``; ``ref``: ``torso`` (LSP-14 left shoulder - right hip) or
    ``box`` (max side of the object box) for PCK; ``flip_perm``: keypoint order after a mirror
    (enables flip augmentation); ``skeleton``: joint pairs for drawing; ``margin``: crop margin;
    ``rotate``: training rotations up to this many degrees (0: none; keypoint orders defined by
    a direction, like the scenes' clockwise outline points, should not be rotated much);
    ``pck_alpha``: the PCK threshold as a fraction of the reference length."""

    name = "keypoints"
    main_metric = "pck"

    def __init__(
        self,
        spec: KeypointSpec,
        size: tuple[int, int],
        classes: list[str],
        ref: str = "box",
        flip_perm: list[int] | None = None,
        skeleton: list[list[int]] | None = None,
        margin: float = 0.1,
        pck_alpha: float = 0.2,
        rotate: float = 0.0,
    ) -> None:
        if ref not in ("torso", "box"):
            raise ValueError(f"PCK reference must be torso or box, got {ref!r}")
        if ref == "torso" and spec.num_keypoints != 14:
            raise ValueError("the torso PCK reference needs the 14-joint LSP skeleton")
        if flip_perm is not None and sorted(flip_perm) != list(range(spec.num_keypoints)):
            raise ValueError(f"flip_perm must permute 0..{spec.num_keypoints - 1}")
        self.spec, self.size, self.classes = spec, tuple(size), list(classes)
        self.ref, self.flip_perm, self.skeleton = ref, flip_perm, skeleton or []
        self.margin, self.pck_alpha, self.rotate = margin, pck_alpha, rotate

    @property
    def bf16_training(self) -> bool:
        """Whether ``--precision auto`` may train this model under bf16 autocast."""
        return bf16_measured(self.spec.backbone)

    def spec_dict(self) -> dict:
        return spec_dict(
            self.spec,
            size=list(self.size),
            classes=self.classes,
            ref=self.ref,
            flip_perm=self.flip_perm,
            skeleton=self.skeleton,
            margin=self.margin,
            pck_alpha=self.pck_alpha,
            rotate=self.rotate,
        )

    @classmethod
    def from_spec_dict(cls, d: dict) -> KeypointTask:
        spec, rest = split_spec_dict(d, KeypointSpec)
        size, classes = rest.pop("size"), rest.pop("classes")
        return cls(spec, tuple(size), classes, **rest)

    @staticmethod
    def check_sample(sample: Sample) -> None:
        """A sample needs a non-crowd object with keypoints (the largest object is used)."""
        s = single_object(sample)
        if s.keypoints is None or s.keypoints.shape[1] == 0:
            raise DataError(
                sample.path or "<generated>", "has no keypoints", f"image {sample.image_id}"
            )

    def build_model(self) -> nn.Module:
        return build_keypoint_model(self.spec)

    def _reference(self, s: Sample) -> float:
        kp = s.keypoints[:1]
        if self.ref == "torso":
            return float(torso_diameter(kp[..., :2], kp[..., 2] > 0)[0])
        return float(box_size(s.boxes[:1])[0])

    def transform(self, train: bool):
        aug = KeypointAugment(
            self.size,
            train=train,
            margin=self.margin,
            flip_perm=self.flip_perm,
            rotate=self.rotate,
        )
        k = self.spec.num_keypoints

        def apply(sample: Sample, gen=None) -> KeypointItem:
            s = single_object(sample)
            if s.keypoints is None or s.keypoints.shape[1] != k:
                got = "none" if s.keypoints is None else s.keypoints.shape[1]
                raise DataError(
                    s.path or "<generated>",
                    f"needs {k} keypoints per object, has {got}",
                    f"image {s.image_id}",
                )
            ref = self._reference(s)
            out, (x1, y1, x2, y2) = aug(s, gen)
            h, w = out.size
            kp = out.keypoints[0]
            return KeypointItem(
                out.image,
                kp[:, :2] / torch.tensor([w, h], dtype=kp.dtype),
                kp[:, 2] > 0,
                kp[:, 2] == 2,
                torch.tensor([x2 - x1, y2 - y1], dtype=torch.float64),
                ref,
                s.image_id,
            )

        return apply

    collate = staticmethod(collate)

    def step(self, model: nn.Module, batch: KeypointBatch, device: torch.device) -> StepOutput:
        out = model(like_model(batch.images, model), batch.targets(device))
        return StepOutput(out.loss, multitask_logs(out))

    def metrics(self, pred: torch.Tensor, batch: KeypointBatch) -> dict:
        """PCK (and PCP for 14 joints) of normalised predictions ``(N, K, 2)``, in pixels."""
        scale = batch.crop_wh[:, None, :]
        p, g = pred.double() * scale, batch.coords.double() * scale
        m = pck(p, g, batch.labelled, batch.ref, self.pck_alpha)
        out = {"pck": m["pck"], "pck_excluded": m["excluded"]}
        if self.spec.num_keypoints == 14:
            out["pcp"] = pcp(p, g, batch.labelled)["mean"]
        return out

    def evaluate_batch(self, model: nn.Module, batch: KeypointBatch, device: torch.device) -> dict:
        """The batch's predicted coordinates, the batch's annotations (its images dropped),
        visibility hits over labelled joints, and its losses."""
        out = model(like_model(batch.images, model), batch.targets(device))
        lab = batch.labelled
        k = len(batch.ids)
        return {
            "pred": out.coords.float().cpu(),
            "truth": replace(batch, images=torch.empty(0)),
            "vis_hit": int(((out.visibility.cpu() > 0) == batch.visible)[lab].sum()),
            "vis_n": int(lab.sum()),
            "losses": loss_sums(out.loss, k, out.losses),
            "n": k,
        }

    def summarize(self, parts: list[dict]) -> dict:
        m = self.metrics(
            torch.cat([p["pred"] for p in parts]), _concat([p["truth"] for p in parts])
        )
        m["vis_acc"] = sum(p["vis_hit"] for p in parts) / max(sum(p["vis_n"] for p in parts), 1)
        return {**m, **loss_means(parts)}

    def mean_pose_baseline(self, train_set, val_set) -> dict:
        """Metrics of the trivial predictor: the mean normalised training pose for everyone."""
        plain = self.transform(train=False)
        total = torch.zeros(self.spec.num_keypoints, 2, dtype=torch.float64)
        count = torch.zeros(self.spec.num_keypoints, 1, dtype=torch.float64)
        for i in range(len(train_set)):
            it = plain(train_set[i])
            total += it.coords.double() * it.labelled[:, None]
            count += it.labelled[:, None].double()
        mean = (total / count.clamp(min=1)).float()
        val = collate([plain(val_set[i]) for i in range(len(val_set))])
        return self.metrics(mean.expand(len(val.ids), -1, -1), val)

    @torch.inference_mode()
    def predict(
        self, model: nn.Module, images: torch.Tensor, boxes: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``images``: float ``(N, 3, H, W)`` in [0, 1]; ``boxes``: ``(N, 4)`` ``xyxy`` object
        boxes (default: the whole image, as for LSP's person-centred photos; then no margin
        is added, since the photo already frames the person). Returns ``keypoints``
        ``(N, K, 2)`` in the input's pixels and ``visible`` probabilities."""
        model.eval()
        n, _, h, w = images.shape
        margin = self.margin
        if boxes is None:
            boxes = torch.tensor([[0.0, 0.0, w, h]]).expand(n, 4)
            margin = 0.0
        crops, origins = [], []
        for img, box in zip(images, boxes):
            s = Sample(
                (img * 255).round().to(torch.uint8),
                boxes=box[None].float(),
                labels=torch.ones(1, dtype=torch.int64),
            )
            out, (x1, y1, x2, y2) = crop_to_box(s, box.tolist(), self.size, margin)
            crops.append(out.image)
            origins.append([x1, y1, x2 - x1, y2 - y1])
        o = torch.tensor(origins)
        res = model(like_model(torch.stack(crops).float().div(255), model))
        kp = res.coords.float().cpu() * o[:, None, 2:] + o[:, None, :2]
        return {"keypoints": kp, "visible": torch.sigmoid(res.visibility).cpu()}


def _concat(parts: list[KeypointBatch]) -> KeypointBatch:
    return KeypointBatch(
        torch.empty(0),
        torch.cat([p.coords for p in parts]),
        torch.cat([p.labelled for p in parts]),
        torch.cat([p.visible for p in parts]),
        torch.cat([p.crop_wh for p in parts]),
        torch.cat([p.ref for p in parts]),
        [i for p in parts for i in p.ids],
    )
