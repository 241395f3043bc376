//===- crc32c.cpp - Table-driven CRC-32C ----------------------------------===//
//
// CRC-32C (Castagnoli) as used by iSCSI, ext4 and the .gkm container. A
// byte-at-a-time table is plenty for artifacts of a few megabytes and needs
// no library or CPU feature, which matters on the GPU machines.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"

#include <array>

namespace gecko {

namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u; // reflected 0x1EDC6F41

constexpr std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1u) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = makeTable();

} // namespace

uint32_t crc32c(const void *data, size_t size, uint32_t crc) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = kTable[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

} // namespace gecko
