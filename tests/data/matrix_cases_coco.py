"""Bad-input matrix rows for COCO instances, keypoints and captions files.

The fixture (``fixtures.coco_data``): image 10 is ``a.png`` (32x24) with annotations 100
(person polygon, keypoints head/foot), 101 (cat polygon), 102 (cat, uncompressed RLE) and 103
(crowd, compressed RLE); image 11 ``b.png`` has none; image 12 ``sub/c.png`` has 104. The
captions file alone (``fixtures.captions_only``) lists images 3, 1, 2 and three captions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from fixtures import captions_only, coco_data, make_caption_set, make_coco, write_image, write_json
from matrix_harness import Bad, Good, Opener, captions, coco, setter

from regionlab.data.coco import CocoDataset

J = "instances.json"
C = "captions_train2017.json"
A100 = "annotation id 100, image id 10"
ANN0 = ("annotations", 0)
SEG0 = (*ANN0, "segmentation")
KP0 = (*ANN0, "keypoints")
RLE = ("annotations", 2, "segmentation")


def _with_captions(edit=None, raw: bytes | None = None, missing: bool = False):
    """The COCO fixture with ``captions_file=captions.json`` (edited, replaced or deleted)."""

    def build(tmp_path: Path) -> Opener:
        ann, images, caps = make_coco(tmp_path)
        data = json.loads(caps.read_text())
        if edit is not None:
            edit(data)
        write_json(caps, data)
        if raw is not None:
            caps.write_bytes(raw)
        if missing:
            caps.unlink()
        return lambda skip_bad: CocoDataset(ann, images, captions_file=caps, skip_bad=skip_bad)

    return build


def _symlink_outside(root: Path) -> None:
    write_image(root / "outside.png", 16, 16)
    (root / "images" / "b.png").unlink()
    os.symlink(root / "outside.png", root / "images" / "b.png")


def _utf16(root: Path) -> None:
    ann = root / "annotations" / J
    ann.write_bytes(ann.read_text().encode("utf-16"))


def _drop_image(data: dict, key: str) -> None:
    data["images"][1].pop(key)


NAN = float("nan")

BAD_COCO: list[Bad] = [
    # polygons
    Bad("coco-polygon-odd-coordinates", coco(setter(*SEG0, value=[[2, 2, 10, 2, 10, 12, 2]])),
        r"polygon 0 has an odd number of coordinates \(7\)", J, A100),
    Bad("coco-polygon-one-point", coco(setter(*SEG0, value=[[2, 2]])),
        r"polygon 0 needs at least 3 \(x, y\) points, got 2 values", J, A100),
    Bad("coco-polygon-empty-second-part", coco(setter(*SEG0, value=[[2, 2, 10, 2, 10, 12], []])),
        r"polygon 1 needs at least 3 \(x, y\) points, got 0 values", J, A100),
    Bad("coco-polygon-not-nested", coco(setter(*SEG0, value=[2, 2, 10, 2, 10, 12])),
        r"polygon 0 must be a list of numbers, got 2", J, A100),
    Bad("coco-polygon-string-coordinate", coco(setter(*SEG0, value=[[2, "2", 10, 2, 10, 12]])),
        r"polygon 0 must be a list of numbers", J, A100),
    Bad("coco-polygon-nan", coco(setter(*SEG0, value=[[2, 2, NAN, 2, 10, 12]])),
        r"polygon 0 \[.*\] has a non-finite value", J, A100),
    # RLE
    Bad("coco-rle-size-width-first", coco(setter(*RLE, "size", value=[32, 24])),
        r"RLE size \[32, 24\] differs from the image size \[24, 32\] \(H, W\) "
        r"\(written as \[W, H\]\?\)", J, "annotation id 102, image id 10"),
    Bad("coco-rle-without-size", coco(setter(*RLE, "size", drop=True)),
        r"segmentation must be polygons or an RLE", J, "annotation id 102, image id 10"),
    Bad("coco-rle-negative-count", coco(setter(*RLE, "counts", value=[-1, 769])),
        r"counts must be non-negative integers", J, "annotation id 102, image id 10"),
    Bad("coco-rle-counts-a-number", coco(setter(*RLE, "counts", value=768)),
        r"RLE counts must be a list or a string", J, "annotation id 102, image id 10"),
    Bad("coco-segmentation-a-string", coco(setter(*SEG0, value="person")),
        r"segmentation must be polygons or an RLE", J, A100),
    # categories, boxes, crowd
    Bad("coco-category-id-as-string", coco(setter(*ANN0, "category_id", value="1")),
        r"unknown category id '1'", J, A100),
    Bad("coco-annotation-without-category", coco(setter(*ANN0, "category_id", drop=True)),
        r"unknown category id None", J, A100),
    Bad("coco-annotation-without-bbox", coco(setter(*ANN0, "bbox", drop=True)),
        r"bbox must be a list of 4 numbers, got None", J, A100),
    Bad("coco-bbox-as-strings", coco(setter(*ANN0, "bbox", value=["2", "2", "8", "10"])),
        r"bbox must be a list of 4 numbers", J, A100),
    Bad("coco-iscrowd-2", coco(setter(*ANN0, "iscrowd", value=2)),
        r"iscrowd must be 0 or 1, got 2", J, A100),
    Bad("coco-annotation-without-image-id", coco(setter(*ANN0, "image_id", drop=True)),
        r"names unknown image id None", J, "annotation id 100"),
    # images
    Bad("coco-image-without-file-name", coco(lambda d: _drop_image(d, "file_name")),
        r"image entry has no 'file_name'", J, "image id 11"),
    Bad("coco-file-name-empty", coco(setter("images", 1, "file_name", value="")),
        r"image entry has no 'file_name'", J, "image id 11"),
    Bad("coco-file-name-a-number", coco(setter("images", 1, "file_name", value=11)),
        r"image entry has no 'file_name'", J, "image id 11"),
    Bad("coco-file-name-absolute", coco(setter("images", 1, "file_name", value="/etc/hostname")),
        r"file name '/etc/hostname' points outside the dataset root", J, "image id 11"),
    Bad("coco-file-name-symlink-outside", coco(files=_symlink_outside),
        r"file name 'b\.png' points outside the dataset root .*allow_outside_root=true",
        J, "image id 11"),
    Bad("coco-file-name-a-folder", coco(setter("images", 1, "file_name", value="sub")),
        r"images/sub is a folder, not an image file", J, "image id 11"),
    Bad("coco-file-name-nul-byte", coco(setter("images", 1, "file_name", value="b\x00.png")),
        r"file name 'b\\x00\.png' cannot be a path here: embedded null byte", J, "image id 11"),
    Bad("coco-file-name-too-long", coco(setter("images", 1, "file_name", value="x" * 5000)),
        r"cannot be a path here: .*File name too long", J, "image id 11"),
    Bad("coco-image-height-a-string", coco(setter("images", 0, "height", value="24")),
        r"image a\.png is 32x24 but the file says 32x'24'", J, "image id 10"),
    # the file as a whole
    Bad("coco-image-id-as-string", coco(setter("images", 0, "id", value="10")),
        r"image entry needs an integer 'id'", J, "images[0]", structural=True),
    Bad("coco-annotation-not-an-object", coco(setter("annotations", 0, value=5)),
        r"annotation entry must be an object", J, "annotations[0]", structural=True),
    Bad("coco-duplicate-annotation-id", coco(setter("annotations", 1, "id", value=100)),
        r"duplicate annotation id 100", J, "annotations[1]", structural=True),
    Bad("coco-annotation-id-a-list", coco(setter("annotations", 1, "id", value=[101])),
        r"annotation id must be a number, got \[101\]", J, "annotations[1]", structural=True),
    Bad("coco-category-without-name", coco(setter("categories", 0, "name", drop=True)),
        r"category needs an integer 'id' and a 'name'", J, "categories[0]", structural=True),
    Bad("coco-top-level-a-list", coco(files=lambda r: (r / "annotations" / J).write_text("[]")),
        r"top level must be a JSON object", J, "", structural=True),
    Bad("coco-utf16-json", coco(files=_utf16),
        r"not valid UTF-8", J, "", structural=True),
    # keypoints (person: head, foot)
    Bad("keypoints-visibility-negative", coco(setter(*KP0, value=[3, 4, -1, 0, 0, 0])),
        r"keypoint 0 has visibility -1; COCO allows 0 \(unlabelled\), 1 \(occluded\), "
        r"2 \(visible\)", J, A100),
    Bad("keypoints-visibility-fraction", coco(setter(*KP0, value=[3, 4, 2, 5, 5, 1.5])),
        r"keypoint 1 has visibility 1\.5", J, A100),
    Bad("keypoints-x-beyond-the-image", coco(setter(*KP0, value=[40, 4, 2, 0, 0, 0])),
        r"keypoint 0 \(head\) at \(40, 4\) lies outside the 32x24 image", J, A100),
    Bad("keypoints-y-negative", coco(setter(*KP0, value=[3, 4, 2, 5, -3, 1])),
        r"keypoint 1 \(foot\) at \(5, -3\) lies outside the 32x24 image", J, A100),
    Bad("keypoints-as-a-string", coco(setter(*KP0, value="3,4,2,0,0,0")),
        r"keypoints must be a list of 6 numbers", J, A100),
    Bad("keypoints-too-many", coco(setter(*KP0, value=[3, 4, 2, 0, 0, 0, 1, 1, 2])),
        r"keypoints must be a list of 6 numbers", J, A100),
    Bad("keypoints-names-not-a-list", coco(setter("categories", 1, "keypoints", value="head")),
        r"keypoints must be a list of keypoint names, got 'head'", J, "category id 1",
        structural=True),
    Bad("keypoints-skeleton-past-k", coco(setter("categories", 1, "skeleton", value=[[1, 3]])),
        r"skeleton edge \[1, 3\] names a keypoint outside 1\.\.2", J, "category id 1",
        structural=True),
    Bad("keypoints-skeleton-not-pairs", coco(setter("categories", 1, "skeleton", value=[[1]])),
        r"skeleton must be a list of \[a, b\] keypoint numbers", J, "category id 1",
        structural=True),
    # captions, in a captions file alone or beside an instances file
    Bad("captions-empty-string", captions(setter("annotations", 1, "caption", value="")),
        r"caption is empty \(''\)", C, "annotations[1]"),
    Bad("captions-blank", captions(setter("annotations", 1, "caption", value=" \n\t")),
        r"caption is empty", C, "annotations[1]"),
    Bad("captions-missing-caption", captions(setter("annotations", 1, "caption", drop=True)),
        r"caption entry needs a 'caption' string, got None", C, "annotations[1]"),
    Bad("captions-list-of-strings", captions(setter("annotations", 1, "caption", value=["a"])),
        r"caption entry needs a 'caption' string, got \['a'\]", C, "annotations[1]"),
    Bad("captions-image-id-as-string", captions(setter("annotations", 1, "image_id", value="3")),
        r"caption names unknown image id '3'", C, "annotations[1]"),
    Bad("captions-entry-a-string", captions(setter("annotations", 1, value="A cat.")),
        r"caption entry must be an object, got 'A cat\.'", C, "annotations[1]"),
    Bad("captions-latin1-file",
        captions(raw=json.dumps(captions_only(), ensure_ascii=False).replace("noise", "bruit é")
                 .encode("latin-1")),
        r"not valid UTF-8", C, "", structural=True),
    Bad("captions-file-empty-caption",
        _with_captions(setter("annotations", 0, "caption", value="")),
        r"caption is empty", "captions.json", "annotations[0]"),
    Bad("captions-file-latin1", _with_captions(raw='{"annotations": "\xe9"}'.encode("latin-1")),
        r"not valid UTF-8", "captions.json", "", structural=True),
    Bad("captions-file-malformed", _with_captions(raw=b'{"annotations": [\n{"caption": }]}'),
        r"malformed JSON", "captions.json", "line 2, col 13", structural=True),
    Bad("captions-file-missing", _with_captions(missing=True),
        r"annotation file does not exist", "captions.json", "", structural=True),
]  # fmt: skip


# ---------------------------------------------------------------------------- what loads


def _coco_utf8_bom(tmp_path: Path) -> None:
    ann, images, _ = make_coco(tmp_path)
    plain = CocoDataset(ann, images)[0]
    ann.write_bytes(b"\xef\xbb\xbf" + ann.read_bytes())
    s = CocoDataset(ann, images)[0]
    assert torch.equal(s.boxes, plain.boxes) and torch.equal(s.masks, plain.masks)


def _coco_dot_slash(tmp_path: Path) -> None:
    data = coco_data()
    data["images"][1]["file_name"] = "./b.png"
    ann, images, _ = make_coco(tmp_path, data)
    assert CocoDataset(ann, images)[1].path == str((images / "b.png").resolve())


def _keypoint_unlabelled_outside(tmp_path: Path) -> None:
    data = coco_data()
    data["annotations"][0]["keypoints"] = [3, 4, 2, 99, -50, 0]
    ann, images, _ = make_coco(tmp_path, data)
    kps = CocoDataset(ann, images)[0].keypoints[0]
    assert kps.tolist() == [[3, 4, 2], [99, -50, 0]]


def _keypoint_on_the_border(tmp_path: Path) -> None:
    data = coco_data()
    data["annotations"][0]["keypoints"] = [32.5, 24, 2, 0, 0, 1]
    ann, images, _ = make_coco(tmp_path, data)
    assert CocoDataset(ann, images)[0].keypoints[0].tolist() == [[32.5, 24, 2], [0, 0, 1]]


def _keypoints_off(tmp_path: Path) -> None:
    data = coco_data()
    data["annotations"][0]["keypoints"] = [3, 4, 7, "x"]
    ann, images, _ = make_coco(tmp_path, data)
    ds = CocoDataset(ann, images, keypoints=False)
    assert ds.num_keypoints == 0 and ds[0].keypoints is None and len(ds[0].labels) == 4


def _caption_unicode(tmp_path: Path) -> None:
    data = captions_only()
    data["annotations"][1]["caption"] = "  Un café à 東京 🙂\n"
    caps, images = make_caption_set(tmp_path, data)
    assert CocoDataset(caps, images)[0].captions == ["Un café à 東京 🙂"]


def _caption_skip_drops_its_image(tmp_path: Path) -> None:
    data = captions_only()
    data["annotations"][0]["caption"] = ""  # image 1's first caption
    caps, images = make_caption_set(tmp_path, data)
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        ds = CocoDataset(caps, images, skip_bad=True)
    assert ds.image_ids == [3, 2]  # image 1 left out whole, not kept with one caption of two
    assert [ds[i].captions for i in range(2)] == [["Wide noise."], []]


GOOD_COCO: list[Good] = [
    Good("coco-utf8-bom", _coco_utf8_bom, "loads as the same file without the byte-order mark"),
    Good("coco-file-name-dot-slash", _coco_dot_slash, "'./b.png' loads images/b.png"),
    Good("keypoints-unlabelled-outside", _keypoint_unlabelled_outside,
         "v=0 keypoints keep their coordinates as written, wherever they are"),
    Good("keypoints-on-the-border", _keypoint_on_the_border,
         "a labelled keypoint up to 1 px outside loads as written (the box tolerance)"),
    Good("keypoints-off-ignores-them", _keypoints_off,
         "keypoints=false reads no keypoints, so broken ones do not matter"),
    Good("captions-unicode", _caption_unicode, "UTF-8 text (accents, CJK, emoji) loads, stripped"),
    Good("captions-skip-bad-drops-the-image", _caption_skip_drops_its_image,
         "under skip_bad an image with a bad caption is left out whole and counted"),
]  # fmt: skip
