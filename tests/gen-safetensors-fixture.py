#!/usr/bin/python3
"""Writes tests/golden/python-written.safetensors, a small file in the Hugging
Face safetensors format made with nothing but struct/json/numpy, for the
compatibility test in tests/core/test-safetensors.c (which hard-codes the
values below).  The header lists tensors in a different order from their
data, with the default json.dumps separators, as other writers may.

    /usr/bin/python3 tests/gen-safetensors-fixture.py
"""
import json
import os
import struct

import numpy as np


def bf16(values):
    bits = np.array(values, dtype="<f4").view("<u4") >> 16
    return bits.astype("<u2").tobytes()


# name -> (dtype, shape, raw little-endian bytes)
tensors = {
    "f16": ("F16", [2, 3], np.array([1.0, -2.0, 0.5, 65504.0, 2.0**-24, np.inf],
                                    dtype="<f2").tobytes()),
    "bf16": ("BF16", [4], bf16([1.0, -2.5, 3.140625, 65536.0])),
    "f32": ("F32", [2, 2], np.array([0.25, -1.5, 3.0e38, -0.0], dtype="<f4").tobytes()),
    "f64": ("F64", [3], np.array([np.pi, -1e-300, 2.0], dtype="<f8").tobytes()),
    "i64": ("I64", [3], np.array([-7, 0, 2**31 - 1], dtype="<i8").tobytes()),
    "i32": ("I32", [2], np.array([-2**31, 123], dtype="<i4").tobytes()),
    "u8": ("U8", [5], bytes([0, 1, 127, 128, 255])),
    "bool": ("BOOL", [2], bytes([1, 0])),
    "i16": ("I16", [2], np.array([-300, 300], dtype="<i2").tobytes()),
    "e4m3": ("F8_E4M3", [4], bytes([0x38, 0xB8, 0x01, 0x7E])),
    "e5m2": ("F8_E5M2", [3], bytes([0x3C, 0xC0, 0x7C])),
    "scalar": ("F32", [], np.array([42.5], dtype="<f4").tobytes()),
    "empty": ("F32", [0, 3], b""),
}
data_order = ["scalar", "u8", "f16", "bf16", "f32", "f64", "i64", "i32", "bool", "i16",
              "e4m3", "e5m2", "empty"]
header_order = ["f16", "bf16", "f32", "f64", "i64", "i32", "u8", "bool", "i16", "e4m3",
                "e5m2", "scalar", "empty"]

offsets = {}
data = b""
for name in data_order:
    raw = tensors[name][2]
    offsets[name] = [len(data), len(data) + len(raw)]
    data += raw

header = {"__metadata__": {"format": "pt", "note": "quote \" and caf\u00e9"}}
for name in header_order:
    dtype, shape, _ = tensors[name]
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": offsets[name]}
text = json.dumps(header).encode("utf-8")
text += b" " * (-len(text) % 8)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden",
                   "python-written.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
print(out, 8 + len(text) + len(data), "bytes")
