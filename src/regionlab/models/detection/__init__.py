"""Multi-object detectors: every model maps ``(images, targets=None, generator=None)`` to one
:class:`~regionlab.models.detection.output.DetectionOutput` (losses with targets, in train and
eval mode alike; per-image :class:`~regionlab.ops.detections.Detections`, decoded lazily).

Each detector is a spec (:mod:`.specs`: ``spec.build()``) and a few parts, so the lecture's
line is one swapped part per step:

=================  ==========================  ==========================  =================
detector           proposer (where to look)    cropper (what a region is)  region heads
=================  ==========================  ==========================  =================
sliding-window     every window                image crop, warped          box
grid               (none: every cell is one)   (none: dense head)          point / anchor
rcnn               selective search            image crop, warp | pad      box
fast-rcnn          selective search            RoIAlign | RoIPool, 1 map   box
faster-rcnn        RPN (1 map or pyramid)      RoIAlign | RoIPool (FPN)    box
keypoint-rcnn      RPN                         RoIAlign (FPN)              box + keypoint
mask-rcnn          RPN                         RoIAlign (FPN)              box + mask (+ kp)
=================  ==========================  ==========================  =================

Rooms: :mod:`.protocols` (the ``Proposer``, ``Cropper``, ``RegionHead`` seams and ``Maps``),
:mod:`.proposers` and :mod:`.rpn`, :mod:`.croppers`, :mod:`.box_head`, :mod:`.region_heads`,
:mod:`.region_targets` (match + sample, shared by the RPN and the second stage),
:mod:`.region_detector` (the composition), :mod:`.build_region` (the wiring); the single-shot
grid: :mod:`.grid_parts`, :mod:`.point_head`, :mod:`.anchor_head`, :mod:`.grid`,
:mod:`.build_grid`; the trunks: :mod:`.backbone`, :mod:`.csp`. Matching (one crowd policy),
sampling, box coding, RoI geometry and the final selection of detections are :mod:`regionlab.ops`.
"""
