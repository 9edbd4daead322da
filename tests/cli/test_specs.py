import pytest

from regionlab.cli.specs import SpecError, open_dataset, parse_spec


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("scenes", ("scenes", [], {})),
        ("scenes:size=128,n=20", ("scenes", [], {"size": 128, "n": 20})),
        ("coco:a.json:imgs", ("coco", ["a.json", "imgs"], {})),
        (
            "voc:D:images=images,annotations=annotations",
            ("voc", ["D"], {"images": "images", "annotations": "annotations"}),
        ),
        (
            "masks:L.txt:num_classes=5,ignore_index=0",
            ("masks", ["L.txt"], {"num_classes": 5, "ignore_index": 0}),
        ),
        ("instances:I:M", ("instances", ["I", "M"], {})),
        ("yolo:D:classes=cat|dog", ("yolo", ["D"], {"classes": ["cat", "dog"]})),
    ],
)
def test_parse(spec, expected):
    assert parse_spec(spec) == expected


def test_scenes_spec_builds_train_and_val_streams():
    tr = open_dataset("scenes:size=32,n=5")
    va = open_dataset("scenes:size=32,n=5", split="val")
    assert len(tr) == 5 and tr[0].image.shape == (3, 32, 32)
    assert not (tr[0].image == va[0].image).all()


def test_bad_option_is_clear():
    with pytest.raises(SpecError, match="not key=value"):
        parse_spec("voc:D:oops")


def test_start_stop_slice_any_file_reader(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
    from fixtures import make_instances

    images, masks = make_instances(tmp_path)
    whole = open_dataset(f"instances:{images}:{masks}")
    first = open_dataset(f"instances:{images}:{masks}:start=0,stop=1")
    rest = open_dataset(f"instances:{images}:{masks}:start=1")
    assert len(whole) == 2 and len(first) == 1 and len(rest) == 1
    assert first[0].image_id == whole[0].image_id and rest[0].image_id == whole[1].image_id
    assert first.dataset.classes == whole.classes
    with pytest.raises(SpecError, match="whole numbers"):
        open_dataset(f"instances:{images}:{masks}:start=0.5")
    with pytest.raises(Exception, match="0 samples"):
        open_dataset(f"instances:{images}:{masks}:start=5")
