"""Copies a safetensors file, adding 1e-3 to the first element of one F32
tensor, so tests can check that a comparison fails."""
import json
import struct
import sys

src, name, dst = sys.argv[1:4]
data = bytearray(open(src, "rb").read())
header_len = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + header_len])
begin = 8 + header_len + header[name]["data_offsets"][0]
value = struct.unpack("<f", data[begin:begin + 4])[0]
data[begin:begin + 4] = struct.pack("<f", value + 1e-3)
open(dst, "wb").write(bytes(data))
