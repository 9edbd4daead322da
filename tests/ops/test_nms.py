"""A batch's NMS with the kernels in threads: torchvision's batched_nms, bit for bit."""

import torch
from torchvision.ops import batched_nms

from regionlab.ops.nms import PER_CLASS_ABOVE, batched_nms_each


def _image(g: torch.Generator, n: int, classes: int):
    xy = torch.rand(n, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 40], 1)
    scores = torch.rand(n, generator=g)
    scores[: n // 10] = 0.5  # ties, which the sort must break as torchvision's does
    return boxes, scores, torch.randint(classes, (n,), generator=g)


def test_each_image_keeps_what_torchvision_keeps_at_any_thread_count():
    g = torch.Generator().manual_seed(0)
    sizes = [1500, 300, 0, 2600, 1001]  # over and under torchvision's per-class threshold
    images = [_image(g, n, 3) for n in sizes]
    assert any(4 * n > PER_CLASS_ABOVE for n in sizes) and any(
        4 * n <= PER_CLASS_ABOVE for n in sizes
    )
    want = [batched_nms(b, s, c, 0.6) for b, s, c in images]
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got = batched_nms_each(*zip(*images), 0.6)
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    finally:
        torch.set_num_threads(before)
    assert 100 < len(want[0]) < 1500 and len(want[2]) == 0
