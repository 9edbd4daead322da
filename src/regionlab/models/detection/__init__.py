"""Multi-object detectors: every model maps images to per-image
:class:`~regionlab.ops.detections.Detections` and, given targets, to named losses, all in one
:class:`~regionlab.models.detection.output.DetectionOutput`.

- :mod:`.grid`: the single-shot grid detector (one pass, a fixed set of predictions per feature
  map cell: anchor-free points with task-aligned assignment, or ``K`` anchor boxes matched by
  IoU), with a small CSP backbone and an FPN+PAN neck from :mod:`.csp`.
"""
