"""One-tensor f32 safetensors files for the Pipelines lit tests' helpers,
with no dependency but Python."""

import json
import struct


def write(path, name, shape, values):
    data = struct.pack("<%df" % len(values), *values)
    header = json.dumps({name: {"dtype": "F32", "shape": shape,
                                "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


def read(path, name):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    meta = json.loads(blob[8:8 + n])[name]
    begin, end = meta["data_offsets"]
    assert meta["dtype"] == "F32", meta
    data = blob[8 + n + begin:8 + n + end]
    return list(struct.unpack("<%df" % (len(data) // 4), data))
