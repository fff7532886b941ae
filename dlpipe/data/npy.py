"""NumPy files read safely: the header checked against the file before any data is read, and kinds refused.

A .npy header can claim any shape (negative, or 2**62 x 2**62) and any dtype; numpy would trust it. Here a
shape must be real, its bytes must be in the file (a truncated file is named as such), and only real numbers
(and, for targets, text labels) are taken: complex values would lose their imaginary part, a structured
array its fields, an object array needs pickle.
"""

from __future__ import annotations

import math

import numpy as np

# dtype kinds taken: b bool, i/u integers, f floats (x and y); U/S text (y only: class labels)
KINDS = {"x": "biuf", "y": "biufUS"}
WHAT = {"c": "complex numbers (dlpipe trains on real ones: give the real and imaginary parts as two features)",
        "V": "a structured array (named fields: give one plain array of numbers)",
        "O": "Python objects (reading them needs pickle, which dlpipe never uses)",
        "U": "text", "S": "bytes", "M": "dates", "m": "time spans"}


def read_header(handle, size: int) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an open .npy stream of `size` bytes; ValueError when the header cannot be true."""
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version[0]}.{version[1]} (1.0 and 2.0 are read)")
    shape, _, dtype = readers[version](handle)
    if any(side < 0 for side in shape):
        raise ValueError(f"its header gives the shape {shape}, which no array has")
    needed, held = math.prod(shape) * dtype.itemsize, size - handle.tell()
    if needed > held and not dtype.hasobject:  # (an object array holds pickles, of any size: refused by its kind)
        raise ValueError(f"is truncated or damaged: its header promises {needed:,} bytes of data ({shape}, "
                         f"{dtype}) and the file holds {held:,}")
    return shape, dtype


def refused_kind(dtype: np.dtype, role: str) -> str | None:
    """Why an array of this dtype is not taken as `role` (x or y), or None."""
    if dtype.kind in KINDS[role]:
        return None
    return f"holds {WHAT.get(dtype.kind, f'values of type {dtype}')}, not numbers" + \
        (" or class labels" if role == "y" else "")
