"""Writes a GECKOTOK binary token file (docs/training.md) of N pseudo-random
tokens below VOCAB with a repeating pattern a model can learn."""
import struct
import sys

path, count, vocab = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
state = 12345
tokens = []
for i in range(count):
    state = (state * 1103515245 + 12345) % (1 << 31)
    tokens.append((i % 7) * 3 % vocab if state % 4 else state % vocab)
with open(path, "wb") as f:
    f.write(b"GECKOTOK" + struct.pack("<IIQ", 1, 2, count))
    f.write(struct.pack("<%dH" % count, *tokens))
