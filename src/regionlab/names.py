"""The names the library accepts for its choices (models, upsamplers, losses, backbones).

Plain constants with no imports, so the command line can list them in ``--help`` without
importing torch; the modules that implement each choice import their list from here.
"""

SEG_ARCHS = ("patch", "fcn", "encdec")
UPSAMPLERS = ("nearest", "bed_of_nails", "max_unpool", "transposed", "bilinear")
TORCHVISION_BACKBONES = (
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
)
BACKBONES = ("small", *TORCHVISION_BACKBONES)
WEIGHTINGS = ("fixed", "uncertainty", "gradnorm")
REGRESSION_LOSSES = ("l2", "l1", "smooth_l1")

#: Where selective search keeps its boxes unless the user names a folder (``--proposal-cache``).
PROPOSAL_CACHE = "~/.cache/regionlab/proposals"
