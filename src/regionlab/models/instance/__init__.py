"""Instance segmentation: Mask R-CNN on the shared two-stage detection parts."""
