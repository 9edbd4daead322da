"""LSP / LSPET reader and the MAT v5 reader under it, on MAT files written here byte by byte."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import raises_data_error, shared, write_image

from regionlab.cli.specs import SpecError, open_dataset, parse_spec
from regionlab.data.lsp import LSP_FLIP, LSP_JOINTS, LSP_SKELETON, LspDataset
from regionlab.data.matlab import read_mat

# ---------------------------------------------------------------------------- a tiny MAT writer

MI = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 9, "i8": 12, "u8": 13}
MX = {
    "f8": 6,
    "f4": 7,
    "i1": 8,
    "u1": 9,
    "i2": 10,
    "u2": 11,
    "i4": 12,
    "u4": 13,
    "i8": 14,
    "u8": 15,
}


def _code(dtype) -> str:
    dt = np.dtype(dtype)
    return f"{dt.kind}{dt.itemsize}"


def mat_element(e: str, typ: int, data: bytes) -> bytes:
    """One data element; 4 bytes or fewer use the small format, like MATLAB does."""
    if len(data) <= 4:
        return struct.pack(e + "I", len(data) << 16 | typ) + data.ljust(4, b"\0")
    return struct.pack(e + "II", typ, len(data)) + data + b"\0" * (-len(data) % 8)


def mat_variable(
    e: str, name: str, arr: np.ndarray, *, stored=None, cls: int | None = None, flags: int = 0
) -> bytes:
    """A ``miMATRIX`` element; ``stored`` is the element type of the data (MATLAB often narrows
    doubles to ``uint8``), ``cls``/``flags`` override the array class and flag bits."""
    arr = np.asarray(arr)
    dims = arr.shape if arr.ndim >= 2 else (1, arr.size)
    code = _code(stored if stored is not None else arr.dtype)
    cls = MX[_code(arr.dtype)] if cls is None else cls
    body = mat_element(e, 6, struct.pack(e + "II", cls | flags << 8, 0))
    body += mat_element(e, 5, struct.pack(e + f"{len(dims)}i", *dims))
    body += mat_element(e, 1, name.encode("ascii"))
    body += mat_element(e, MI[code], arr.astype(e + code).tobytes(order="F"))
    return mat_element(e, 14, body)


def mat_file(elements: list[bytes], *, e: str = "<", compress: bool = False) -> bytes:
    header = b"MATLAB 5.0 MAT-file, written by test_readers_lsp".ljust(116, b" ")
    header += b"\0" * 8 + struct.pack(e + "H", 0x0100) + (b"IM" if e == "<" else b"MI")
    if compress:  # miCOMPRESSED elements are not padded
        elements = [struct.pack(e + "II", 15, len(z)) + z for z in map(zlib.compress, elements)]
    return header + b"".join(elements)


def write_mat(path: Path, variables: dict, **kw) -> Path:
    e = kw.get("e", "<")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mat_file([mat_variable(e, k, v) for k, v in variables.items()], **kw))
    return path


# ---------------------------------------------------------------------------- MAT reader


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("e", ["<", ">"])
def test_mat_round_trip(tmp_path, compress, e):
    rng = np.random.default_rng(0)
    variables = {
        "a": rng.normal(size=(3, 4, 5)),  # 3-D double
        "bb": np.arange(6, dtype=np.float32).reshape(2, 3),
        "x": np.array([[7]], dtype=np.int8),  # small data elements for data and name
        "long_name_12": rng.integers(-9, 9, (4, 2, 2, 3)).astype(np.int16),
        "empty": np.zeros((0, 3)),
        **{f"t_{c}": np.array([[1, 2], [3, 250]], dtype=c) for c in ("u1", "u2", "i4", "u4")},
        "i8": np.array([[-(2**40)], [2**40]], dtype=np.int64),
        "u8": np.array([[2**63]], dtype=np.uint64),
    }
    out = read_mat(write_mat(tmp_path / "v.mat", variables, e=e, compress=compress))
    assert list(out) == list(variables)
    for k, v in variables.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape, k
        assert np.array_equal(out[k], v), k


def test_mat_narrowed_storage_and_logical(tmp_path):
    body = [
        mat_variable("<", "d", np.array([[1.0, 2.0, 255.0]]), stored=np.uint8),
        mat_variable("<", "m", np.array([[1, 0]], dtype=np.uint8), flags=0x02),  # logical
    ]
    (tmp_path / "n.mat").write_bytes(mat_file(body))
    out = read_mat(tmp_path / "n.mat")
    assert out["d"].dtype == np.float64 and out["d"].tolist() == [[1.0, 2.0, 255.0]]
    assert out["m"].dtype == bool and out["m"].tolist() == [[True, False]]


def test_mat_skips_non_numeric_and_refuses_them_by_name(tmp_path):
    body = [
        mat_variable("<", "s", np.frombuffer("hi".encode("utf-16-le"), np.uint16)[None], cls=4),
        mat_variable("<", "z", np.array([[1.0, 2.0]]), flags=0x08),  # complex flag
        mat_variable("<", "k", np.array([[3.0]])),
    ]
    path = tmp_path / "c.mat"
    path.write_bytes(mat_file(body))
    assert list(read_mat(path)) == ["k"]
    with raises_data_error("c.mat", "'s' is a char array"):
        read_mat(path, ["s"])
    with raises_data_error("c.mat", "'z' is a complex array"):
        read_mat(path, ["z"])
    with raises_data_error("c.mat", "no variable 'joints' .*'s', 'z', 'k'"):
        read_mat(path, ["joints"])


def _valid_mat(tmp_path: Path, compress: bool) -> Path:
    return write_mat(tmp_path / "j.mat", {"joints": np.ones((14, 3, 4))}, compress=compress)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("keep", [0, 100, 127, 133, 150, -9, -1])
def test_mat_truncated_is_a_data_error(tmp_path, compress, keep):
    path = _valid_mat(tmp_path, compress)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[: len(data) + keep])
    with raises_data_error("j.mat", ""):
        read_mat(path)


def test_mat_bad_headers_and_corrupt_zlib(tmp_path):
    path = tmp_path / "j.mat"
    path.write_bytes(b"x, y, visible\n" * 20)
    with raises_data_error("j.mat", "not a MAT v5 file"):
        read_mat(path)
    v73 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00".ljust(116, b" ")
    path.write_bytes((v73 + b"\0" * 8 + b"\x00\x02IM").ljust(512, b"\0") + b"\x89HDF\r\n\x1a\n")
    with raises_data_error("j.mat", r"v7\.3 \(HDF5\)"):
        read_mat(path)
    data = bytearray(_valid_mat(tmp_path, compress=True).read_bytes())
    data[140:150] = b"\xff" * 10
    path.write_bytes(bytes(data))
    with raises_data_error("j.mat", "corrupt compressed variable"):
        read_mat(path)
    with raises_data_error("missing.mat", "does not exist"):
        read_mat(tmp_path / "missing.mat")


def test_mat_matches_scipy_savemat(tmp_path):
    sio = pytest.importorskip("scipy.io")
    variables = {
        "joints": np.random.default_rng(1).normal(size=(14, 3, 7)),
        "f": np.arange(12, dtype=np.float32).reshape(3, 4),
        "row": np.arange(5, dtype=np.int32),
        "name": "a string",
        "cell": np.array([np.zeros(2), "x"], dtype=object),
        "st": {"a": 1.0},
    }
    for compress in (False, True):
        path = tmp_path / f"s{compress}.mat"
        sio.savemat(path, variables, do_compression=compress)
        ours, theirs = read_mat(path), sio.loadmat(path)
        assert sorted(ours) == ["f", "joints", "row"]
        for k in ours:
            assert ours[k].dtype == theirs[k].dtype and np.array_equal(ours[k], theirs[k]), k


# ---------------------------------------------------------------------------- LSP / LSPET

H, W = 24, 32


def joints_table() -> np.ndarray:
    """``(3, 14, 3)`` = (sample, joint, x/y/flag) with LSPET flags (1 = visible)."""
    t = np.zeros((3, 14, 3))
    k = np.arange(14)
    t[0, :, 0], t[0, :, 1], t[0, :, 2] = 2 + k, 3 + k, 1  # extent x 2..15, y 3..16
    t[1] = t[0]
    t[1, 0] = [0.0, -5.0, 0]  # never placed (LSPET's marker): v = 0
    t[1, 1] = [5.0, 6.0, 0]  # placed, not visible: v = 1
    t[2] = t[0]
    t[2, 13] = [31.5, 20.0, 1]  # near the right border: the box is clipped to the image
    return t


def to_file_layout(t: np.ndarray, layout: str) -> np.ndarray:
    if layout == "lspet":
        return t.transpose(1, 2, 0)  # (14, 3, N)
    t = t.copy()
    t[..., 2] = 1 - t[..., 2]  # LSP: 0 = visible, 1 = occluded
    return t.transpose(2, 1, 0)  # (3, 14, N)


def make_lsp(
    root: Path,
    table: np.ndarray | None = None,
    *,
    layout: str = "lspet",
    images: list[int] | None = None,
    name: str = "joints",
    **mat_kw,
) -> Path:
    table = joints_table() if table is None else table
    digits = 5 if layout == "lspet" else 4
    for i in images if images is not None else range(len(table)):
        write_image(root / "images" / f"im{i + 1:0{digits}d}.jpg", H, W, seed=i)
    write_mat(root / "joints.mat", {name: to_file_layout(table, layout)}, **mat_kw)
    return root


def _box(x1, y1, x2, y2, m=0.15):
    px, py = m * (x2 - x1), m * (y2 - y1)
    return [max(x1 - px, 0), max(y1 - py, 0), min(x2 + px, W), min(y2 + py, H)]


@pytest.mark.parametrize(
    "layout, mat_kw",
    [
        ("lspet", {}),
        ("lspet", {"compress": True}),
        ("lsp", {"e": ">"}),
        ("lsp", {"compress": True}),
    ],
)
def test_lsp_reads_both_layouts(tmp_path, layout, mat_kw):
    ds = LspDataset(make_lsp(tmp_path, layout=layout, **mat_kw))
    assert ds.layout == layout and len(ds) == 3 and ds.classes == ["background", "person"]
    assert ds.num_keypoints == 14
    digits = 5 if layout == "lspet" else 4
    assert ds.image_ids == [f"im{i:0{digits}d}" for i in (1, 2, 3)]
    s = ds[1]
    assert s.image.shape == (3, H, W) and s.image.dtype == torch.uint8
    assert s.labels.tolist() == [1] and s.keypoints.shape == (1, 14, 3)
    assert s.keypoints.dtype == torch.float32 and s.path.endswith(f"im{2:0{digits}d}.jpg")
    kp = s.keypoints[0]
    assert kp[0].tolist() == [0, 0, 0] and kp[1].tolist() == [5, 6, 1]
    assert kp[2:, 2].eq(2).all() and kp[2:, :2].tolist() == joints_table()[1, 2:, :2].tolist()
    assert s.boxes[0].tolist() == pytest.approx(_box(4, 5, 15, 16))  # from joints 1..13
    assert ds[0].boxes[0].tolist() == pytest.approx(_box(2, 3, 15, 16))
    assert ds[2].boxes[0].tolist() == pytest.approx(_box(2, 3, 31.5, 20))
    assert ds[2].boxes[0, 2].item() == W


def test_lsp_split_forms(tmp_path):
    root = make_lsp(tmp_path)
    assert LspDataset(root, (1, None)).image_ids == ["im00002", "im00003"]
    assert LspDataset(root, slice(0, 2)).image_ids == ["im00001", "im00002"]
    assert LspDataset(root, [2, 0]).image_ids == ["im00003", "im00001"]
    with raises_data_error("joints.mat", "split index 3 is outside 0..2"):
        LspDataset(root, [3])
    with pytest.raises(TypeError, match="split"):
        LspDataset(root, ["0", "2"])
    with pytest.raises(ValueError, match="margin"):
        LspDataset(root, margin=-0.1)
    tight = LspDataset(root, margin=0.0)[0].boxes[0].tolist()
    assert tight == [1.0, 2.0, 16.0, 17.0]  # joint extent 2..15 x 3..16, padded by the 1 px floor


def test_lsp_single_sample_2d_joints(tmp_path):
    # MATLAB drops a trailing dimension of size 1: one sample is saved as (14, 3).
    root = make_lsp(tmp_path, joints_table()[:1])
    write_mat(root / "joints.mat", {"joints": to_file_layout(joints_table()[:1], "lspet")[..., 0]})
    assert len(LspDataset(root)) == 1


def test_lsp_tables_are_consistent():
    assert (
        len(LSP_JOINTS) == 14 and LSP_JOINTS[9] == "left shoulder" and LSP_JOINTS[2] == "right hip"
    )
    assert all(0 <= a < 14 and 0 <= b < 14 for a, b in LSP_SKELETON)
    assert sorted(LSP_FLIP) == list(range(14))
    swap = {"left": "right", "right": "left"}
    mirrored = [" ".join(swap.get(w, w) for w in name.split()) for name in LSP_JOINTS]
    assert [LSP_JOINTS[k] for k in LSP_FLIP] == mirrored


def _table_with(i: int, k: int, row: list[float]) -> np.ndarray:
    t = joints_table()
    t[i, k] = row
    return t


@pytest.mark.parametrize(
    "setup, phrase",
    [
        (lambda r: make_lsp(r, name="pts"), r"no variable 'joints' \(variables in the file: 'pts'\)"),
        (
            lambda r: write_mat(make_lsp(r) / "joints.mat", {"joints": np.zeros((14, 2, 3))}),
            r"must be \(14, 3, N\) \(LSPET\) or \(3, 14, N\) \(LSP\), got \(14, 2, 3\)",
        ),
        (
            lambda r: make_lsp(r, _table_with(1, 4, [np.nan, 3, 1])),
            r"\(sample 1, joint 4 \(left knee\)\): non-finite value",
        ),
        (
            lambda r: make_lsp(r, _table_with(2, 0, [4, 5, np.inf])),
            r"\(sample 2, joint 0 \(right ankle\)\): non-finite",
        ),
        (lambda r: make_lsp(r, _table_with(0, 3, [4, 5, 2])), "visibility flag must be 0 or 1, got 2"),
        (lambda r: make_lsp(r, images=[0, 1, 2, 3]), "holds 3 sample.* has 4 images"),
        (lambda r: make_lsp(r, images=[0, 1, 3]), r"\(sample 2\): image file .*im00003\.jpg does not exist"),
        (lambda r: (r / "images").mkdir(), r"MAT-file does not exist"),
        (lambda r: (r / "images").mkdir() or (r / "joints.mat").write_text("x y v\n"), "not a MAT v5 file"),
    ],
)  # fmt: skip
def test_lsp_bad_joints_mat(tmp_path, setup, phrase):
    setup(tmp_path)
    with raises_data_error("joints.mat", phrase):
        LspDataset(tmp_path)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_lsp_truncated_and_v73_joints_mat(tmp_path, cut):
    path = make_lsp(tmp_path, compress=True) / "joints.mat"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with raises_data_error("joints.mat", "truncated"):
        LspDataset(tmp_path)
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n")
    with raises_data_error("joints.mat", "v7.3"):
        LspDataset(tmp_path)


def test_lsp_unplaced_sample_and_missing_folder(tmp_path):
    t = joints_table()
    t[1, :, :2] = 0.0
    root = make_lsp(tmp_path, t)
    with raises_data_error("joints.mat", r"\(sample 1\): no joint has a position"):
        LspDataset(root)
    with raises_data_error("pictures", "image folder does not exist"):
        LspDataset(root, images="pictures")


def test_lsp_skip_bad_reports(tmp_path):
    t = _table_with(0, 4, [np.nan, 3, 1])
    root = make_lsp(tmp_path, t, images=[0, 1, 3])
    with pytest.warns(UserWarning, match="skipped 2 bad sample"):
        ds = LspDataset(root, skip_bad=True)
    assert ds.image_ids == ["im00002"] and ds.skipped.count == 2
    assert [e.where for e in ds.skipped.errors] == ["sample 0, joint 4 (left knee)", "sample 2"]


def test_lsp_spec(tmp_path):
    root = make_lsp(tmp_path)
    assert parse_spec(f"lsp:{root}:start=1,stop=3") == ("lsp", [str(root)], {"start": 1, "stop": 3})
    assert open_dataset(f"lsp:{root}:start=1").image_ids == ["im00002", "im00003"]
    assert len(open_dataset(f"lsp:{root}:stop=2,margin=0.1")) == 2
    with pytest.raises(SpecError, match="start=,stop= instead of split="):
        open_dataset(f"lsp:{root}:split=0|2")
    with pytest.raises(SpecError, match="lsp"):
        open_dataset(f"lsp:{root}:bogus=1")


# ---------------------------------------------------------------------------- real data


def test_lspet_real_data():
    root = shared("lspet")
    ds = LspDataset(root)
    assert ds.layout == "lspet" and len(ds) == 400 and ds.image_ids[-1] == "im00400"
    table = read_mat(root / "joints.mat", ["joints"])["joints"]
    assert table.shape == (14, 3, 400) and table.dtype == np.float64
    for i in (0, 28, 399):  # sample 28 has the neck stored as (0, 0) with flag 0
        s = ds[i]
        h, w = s.size
        flags = table[:, 2, i]
        kp = s.keypoints[0].numpy()
        assert (kp[:, 2] == np.where(flags == 1, 2, 0)).all()  # every flag-0 joint is unplaced
        assert np.allclose(kp[flags == 1, :2], table[flags == 1, :2, i].astype(np.float32))
        x1, y1, x2, y2 = s.boxes[0].tolist()
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    assert len(open_dataset(f"lsp:{root}:start=0,stop=300")) == 300
    assert len(open_dataset(f"lsp:{root}:start=300")) == 100


def test_lspet_joints_match_scipy():
    sio = pytest.importorskip("scipy.io")
    path = shared("lspet") / "joints.mat"
    ours, theirs = read_mat(path), sio.loadmat(path)
    assert list(ours) == ["joints"] and ours["joints"].dtype == theirs["joints"].dtype
    assert np.array_equal(ours["joints"], theirs["joints"])
