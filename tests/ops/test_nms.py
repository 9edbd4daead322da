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


def test_a_limit_keeps_the_first_of_what_torchvision_keeps_from_fewer_candidates(monkeypatch):
    import regionlab.ops.nms as nms

    g = torch.Generator().manual_seed(1)
    images = []
    for n in (2600, 1500, 300, 1800):  # scores without ties: their order is defined
        boxes, _, classes = _image(g, n, 4)
        images.append((boxes, torch.randperm(n, generator=g).float() / n, classes))
    xy = torch.rand(2600, 2, generator=g) * 60  # 40-pixel boxes crowded together: few of the
    crowded = torch.cat([xy, xy + 40], 1)  # best are kept, so the candidates must grow
    images.append((crowded, images[0][1], torch.zeros(2600, dtype=torch.long)))
    want = [batched_nms(b, s, c, 0.7) for b, s, c in images]
    seen = []
    kernel = nms._kernel
    monkeypatch.setattr(nms, "_kernel", lambda b, s, iou: seen.append(len(b)) or kernel(b, s, iou))
    for limit in (1, 50, 300, 5000):
        seen.clear()
        got = batched_nms_each(*zip(*images), 0.7, limit=limit)
        assert all(torch.equal(a, w[:limit]) for a, w in zip(got, want, strict=True)), limit
        if limit == 50:  # the kernels saw each image's best few, not its hundreds
            assert sum(seen) < sum(len(b) for b, _, _ in images) / 8
    seen.clear()
    assert torch.equal(batched_nms_each(*zip(images[-1]), 0.7, limit=50)[0], want[-1][:50])
    assert 2 * 50 < sum(seen) < 2600  # the crowded image's best kept too few: grown, not all
