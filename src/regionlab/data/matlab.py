"""A small reader for MATLAB MAT-files, version 5 (what ``save -v6`` and ``save -v7`` write).

Only real numeric arrays are read; that is all the datasets here store. The layout (MathWorks,
"MAT-File Format", the version 5 chapter):

- a 128-byte header: 116 bytes of text, 8 bytes of subsystem offset, a ``uint16`` version
  (``0x0100``) and the endian indicator ``"IM"`` (little-endian file) or ``"MI"`` (big-endian);
- then data elements, each an 8-byte tag (``uint32`` type, ``uint32`` byte count) and its data
  padded to 8 bytes, or a *small* element whose tag packs a ``uint16`` count and ``uint16`` type
  into 4 bytes followed by up to 4 data bytes;
- each variable is a ``miMATRIX`` element (array flags, dimensions, name, real part[, imaginary
  part]), in version 7 files wrapped in a zlib-compressed ``miCOMPRESSED`` element.

MATLAB stores arrays column-major, so they are reshaped with ``order="F"``; the element type of
the data may be narrower than the array's class (a double array of small integers is often
stored as ``uint8``) and is converted to the class's dtype. Cell arrays, structs, objects, char,
sparse and complex arrays are skipped (an error only when asked for by name); v7.3 files (HDF5)
and v4 files are refused. Every problem raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from regionlab.data.errors import DataError

MI_INT32, MI_UINT32, MI_MATRIX, MI_COMPRESSED = 5, 6, 14, 15
# Element data types -> numpy type codes (byte order added from the header).
MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8",
            13: "u8"}  # fmt: skip
# Numeric array classes -> the dtype of the array returned.
MX_CLASSES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4",
              14: "i8", 15: "u8"}  # fmt: skip
MX_OTHER = {1: "cell array", 2: "struct", 3: "object", 4: "char array", 5: "sparse array",
            16: "function handle", 17: "opaque object"}  # fmt: skip
# A compressed variable may not inflate past this (a small file must not exhaust memory).
MAX_INFLATED = 1 << 30


def read_mat(path: str | Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The numeric variables of a MAT v5 file as ``{name: array}`` (native byte order).

    ``names``: the variables wanted; each must exist and be a real numeric array, else
    :class:`DataError`. ``None`` returns every numeric variable and silently skips the rest.
    Logical arrays come back as ``bool``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "MAT-file does not exist")
    try:
        buf = path.read_bytes()
    except OSError as err:
        raise DataError(path, f"cannot read MAT-file: {err.strerror}") from err
    if buf[:10] == b"MATLAB 7.3" or buf[:4] == b"\x89HDF" or buf[512:516] == b"\x89HDF":
        raise DataError(path, "MAT v7.3 (HDF5) files are not supported; re-save with -v7")
    if len(buf) < 128:
        raise DataError(
            path, f"not a MAT v5 file ({len(buf)} bytes, shorter than its 128-byte header)"
        )
    e = {b"IM": "<", b"MI": ">"}.get(buf[126:128])
    if e is None:
        raise DataError(path, "not a MAT v5 file (no 'IM'/'MI' endian indicator at byte 126)")
    version = struct.unpack_from(e + "H", buf, 124)[0]
    if version != 0x0100:
        raise DataError(path, f"unsupported MAT-file version 0x{version:04x} (expected 0x0100)")
    found: dict[str, np.ndarray | str] = {}
    pos = 128
    while pos < len(buf):
        where = f"byte {pos}"
        typ, data, pos = _element(buf, pos, e, path, where)
        if typ == MI_COMPRESSED:
            typ, data, _ = _element(_inflate(data, path, where), 0, e, path, where)
        if typ != MI_MATRIX:
            raise DataError(path, f"unexpected top-level data element of type {typ}", where)
        name, value = _matrix(data, e, path, where)
        if name:  # the nameless element at the end holds MATLAB's subsystem data
            found[name] = value
    wanted = list(found) if names is None else list(names)
    out = {}
    for name in wanted:
        value = found.get(name)
        if isinstance(value, np.ndarray):
            out[name] = value
        elif names is None:
            continue
        elif value is None:
            listed = ", ".join(repr(n) for n in found) or "none"
            raise DataError(path, f"no variable {name!r} (variables in the file: {listed})")
        else:
            raise DataError(
                path, f"variable {name!r} is a {value}; only real numeric arrays are read"
            )
    return out


def _element(buf: bytes, pos: int, e: str, path: Path, where: str) -> tuple[int, bytes, int]:
    """The data element at ``pos``: ``(type, data, position of the next element)``."""
    if pos + 8 > len(buf):
        raise DataError(path, "file is truncated (a data element tag is cut short)", where)
    typ, size = struct.unpack_from(e + "II", buf, pos)
    if typ >> 16:  # small element: count in the upper 16 bits, data in the tag's last 4 bytes
        size, typ = typ >> 16, typ & 0xFFFF
        if size > 4:
            raise DataError(path, f"corrupt small data element ({size} bytes, at most 4)", where)
        return typ, buf[pos + 4 : pos + 4 + size], pos + 8
    end = pos + 8 + size
    if end > len(buf):
        raise DataError(
            path, f"file is truncated (element of {size} bytes, {len(buf) - pos - 8} left)", where
        )
    # Compressed elements are not padded; everything else is padded to 8 bytes.
    return typ, buf[pos + 8 : end], end + (0 if typ == MI_COMPRESSED else -size % 8)


def _inflate(data: bytes, path: Path, where: str) -> bytes:
    z = zlib.decompressobj()
    try:
        out = z.decompress(data, MAX_INFLATED)
    except zlib.error as err:
        raise DataError(path, f"corrupt compressed variable ({err})", where) from err
    if z.unconsumed_tail:
        raise DataError(path, f"compressed variable inflates past {MAX_INFLATED} bytes", where)
    if not z.eof:
        raise DataError(path, "compressed variable is truncated", where)
    return out


def _matrix(buf: bytes, e: str, path: Path, where: str) -> tuple[str, np.ndarray | str]:
    """Parse a ``miMATRIX`` body: ``(name, array)``, or ``(name, what it is)`` when not numeric."""
    typ, flags, pos = _element(buf, 0, e, path, where)
    if typ != MI_UINT32 or len(flags) != 8:
        raise DataError(path, "corrupt array flags in a variable", where)
    word = struct.unpack_from(e + "I", flags)[0]
    cls, is_complex, is_logical = word & 0xFF, word & 0x800, word & 0x200
    try:
        typ, dims_raw, pos = _element(buf, pos, e, path, where)
        ok = typ == MI_INT32 and len(dims_raw) % 4 == 0
        dims = tuple(int(d) for d in np.frombuffer(dims_raw, e + "i4")) if ok else ()
        if len(dims) < 2 or min(dims) < 0:
            raise DataError(path, "corrupt dimensions in a variable", where)
        _, name_raw, pos = _element(buf, pos, e, path, where)
    except DataError:
        if cls in MX_CLASSES:
            raise
        return "", ""  # an undocumented layout (objects, function handles): skipped, not read
    name = name_raw.decode("latin-1")
    where = f"variable {name!r}"
    if cls not in MX_CLASSES:
        return name, MX_OTHER.get(cls, f"array of unknown class {cls}")
    if is_complex:
        return name, "complex array"
    typ, data, _ = _element(buf, pos, e, path, where)
    if typ not in MI_TYPES:
        raise DataError(path, f"numeric data has unknown element type {typ}", where)
    stored = np.dtype(e + MI_TYPES[typ])
    if len(data) != math.prod(dims) * stored.itemsize:
        raise DataError(
            path, f"{len(data)} bytes of {stored.name} data do not fill a {dims} array", where
        )
    arr = np.frombuffer(data, stored).reshape(dims, order="F").astype(MX_CLASSES[cls])
    return name, arr.astype(bool) if is_logical else arr
