"""Single-object localization (class + box) and keypoint regression (pose) on pooled features."""
