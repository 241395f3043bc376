//===- container.cpp - .gkm container writer and verifier -----------------===//
//
// This file lays out and verifies the .gkm container: the 128-byte header,
// the plan and code sections (64-byte aligned, zero padding between them) and
// their CRC-32C checksums. It also holds the whole-file read and atomic write
// helpers the writer and the runtime share.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/stat.h>
#include <unistd.h>

namespace gecko {

namespace {

using namespace artifact;

std::string errnoText() { return std::strerror(errno); }

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

template <typename T> T load(const uint8_t *base, size_t offset) {
  // Gecko hosts are little-endian, like the format.
  T v;
  std::memcpy(&v, base + offset, sizeof(T));
  return v;
}

template <typename T> void store(uint8_t *base, size_t offset, T v) {
  std::memcpy(base + offset, &v, sizeof(T));
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

/// The first non-zero byte in [begin, end), or `end`.
uint64_t firstNonZero(const std::vector<uint8_t> &bytes, uint64_t begin,
                      uint64_t end) {
  for (uint64_t i = begin; i < end; ++i)
    if (bytes[i] != 0)
      return i;
  return end;
}

Status writeAll(int fd, const uint8_t *data, size_t size,
                const std::string &path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return unavailable(path + ": write failed: " + errnoText());
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::ok();
}

std::string parentDir(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

} // namespace

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

StatusOr<std::vector<uint8_t>>
serializeArtifact(const ArtifactPlan &plan, const void *code, size_t codeSize) {
  GECKO_ASSIGN_OR_RETURN(std::string planText, planToJson(plan));
  if (planText.size() > kMaxPlanBytes)
    return invalidArgument("plan JSON is " + std::to_string(planText.size()) +
                           " bytes, over the " + std::to_string(kMaxPlanBytes) +
                           "-byte limit");
  if (codeSize == 0 || !code)
    return invalidArgument("code section is empty");
  const uint8_t *codeBytes = static_cast<const uint8_t *>(code);
  if (plan.target.codeFormat == "elf-shared-object" &&
      (codeSize < 4 || std::memcmp(codeBytes,
                                   "\x7f"
                                   "ELF",
                                   4) != 0))
    return invalidArgument("code section is not an ELF file (code_format "
                           "'elf-shared-object')");

  ArtifactHeader h;
  h.formatVersion = plan.formatVersion;
  h.kernelAbiVersion = plan.kernelAbiVersion;
  h.planOffset = kHeaderSize;
  h.planSize = planText.size();
  h.codeOffset = alignUp(h.planOffset + h.planSize, kSectionAlignment);
  h.codeSize = codeSize;
  h.fileSize = h.codeOffset + h.codeSize;
  h.planCrc = crc32c(planText.data(), planText.size());
  h.codeCrc = crc32c(codeBytes, codeSize);

  std::vector<uint8_t> image;
  try {
    image.assign(static_cast<size_t>(h.fileSize), 0);
  } catch (const std::bad_alloc &) {
    return resourceExhausted("cannot allocate " + std::to_string(h.fileSize) +
                             " bytes for the artifact image");
  }
  uint8_t *p = image.data();
  std::memcpy(p + kOffMagic, kMagic, sizeof(kMagic));
  store<uint32_t>(p, kOffFormatVersion, h.formatVersion);
  store<uint32_t>(p, kOffKernelAbiVersion, h.kernelAbiVersion);
  store<uint32_t>(p, kOffHeaderSize, uint32_t(kHeaderSize));
  store<uint32_t>(p, kOffFlags, 0);
  store<uint64_t>(p, kOffFileSize, h.fileSize);
  store<uint64_t>(p, kOffPlanOffset, h.planOffset);
  store<uint64_t>(p, kOffPlanSize, h.planSize);
  store<uint64_t>(p, kOffCodeOffset, h.codeOffset);
  store<uint64_t>(p, kOffCodeSize, h.codeSize);
  store<uint32_t>(p, kOffPlanCrc, h.planCrc);
  store<uint32_t>(p, kOffCodeCrc, h.codeCrc);
  store<uint32_t>(p, kOffHeaderCrc, crc32c(p, kOffHeaderCrc));
  std::memcpy(p + h.planOffset, planText.data(), planText.size());
  std::memcpy(p + h.codeOffset, codeBytes, codeSize);
  return image;
}

StatusOr<std::vector<uint8_t>>
serializeArtifact(const ArtifactPlan &plan, const std::vector<uint8_t> &code) {
  return serializeArtifact(plan, code.data(), code.size());
}

Status writeArtifact(const std::string &path, const ArtifactPlan &plan,
                     const void *code, size_t codeSize) {
  StatusOr<std::vector<uint8_t>> image =
      serializeArtifact(plan, code, codeSize);
  if (!image.isOk())
    return image.status().withContext(path);
  return writeFileAtomically(path, image->data(), image->size());
}

Status writeArtifact(const std::string &path, const ArtifactPlan &plan,
                     const std::vector<uint8_t> &code) {
  return writeArtifact(path, plan, code.data(), code.size());
}

//===----------------------------------------------------------------------===//
// Verifier
//===----------------------------------------------------------------------===//

StatusOr<ParsedArtifact> parseArtifact(const std::vector<uint8_t> &bytes,
                                       const std::string &source) {
  const std::string &f = source;
  const uint8_t *p = bytes.data();
  if (bytes.size() < sizeof(kMagic) ||
      std::memcmp(p, kMagic, sizeof(kMagic)) != 0)
    return dataLoss(f + ": not a Gecko artifact (the file does not start "
                        "with the magic 'GECKOGKM')");
  // The version fields sit at fixed offsets in every format version, so a
  // newer file is reported as such rather than as a checksum failure.
  if (bytes.size() < kOffKernelAbiVersion + 4)
    return dataLoss(f + ": truncated header (" + std::to_string(bytes.size()) +
                    " of " + std::to_string(kHeaderSize) + " bytes)");
  ArtifactHeader h;
  h.formatVersion = load<uint32_t>(p, kOffFormatVersion);
  if (h.formatVersion != GECKO_ARTIFACT_FORMAT_VERSION)
    return failedPrecondition(
        f + ": artifact format version " + std::to_string(h.formatVersion) +
        " is not supported (this runtime reads version " +
        std::to_string(GECKO_ARTIFACT_FORMAT_VERSION) +
        "); recompile the model with a matching gecko-compile");
  if (bytes.size() < kHeaderSize)
    return dataLoss(f + ": truncated header (" + std::to_string(bytes.size()) +
                    " of " + std::to_string(kHeaderSize) + " bytes)");
  h.headerCrc = load<uint32_t>(p, kOffHeaderCrc);
  uint32_t headerCrc = crc32c(p, kOffHeaderCrc);
  if (headerCrc != h.headerCrc)
    return dataLoss(f + ": header checksum mismatch (stored " +
                    hex32(h.headerCrc) + ", computed " + hex32(headerCrc) +
                    "): the header is corrupt");
  h.kernelAbiVersion = load<uint32_t>(p, kOffKernelAbiVersion);
  if (h.kernelAbiVersion < GECKO_KERNEL_ABI_MIN_VERSION ||
      h.kernelAbiVersion > GECKO_KERNEL_ABI_VERSION)
    return failedPrecondition(
        f + ": kernel ABI version " + std::to_string(h.kernelAbiVersion) +
        " is not supported (this runtime calls versions " +
        std::to_string(GECKO_KERNEL_ABI_MIN_VERSION) + " to " +
        std::to_string(GECKO_KERNEL_ABI_VERSION) +
        "); recompile the model with a matching gecko-compile");
  uint32_t headerSize = load<uint32_t>(p, kOffHeaderSize);
  if (headerSize != kHeaderSize)
    return dataLoss(f + ": header_size is " + std::to_string(headerSize) +
                    ", expected " + std::to_string(kHeaderSize));
  uint32_t flags = load<uint32_t>(p, kOffFlags);
  if (flags != 0)
    return dataLoss(f + ": unknown header flags " + hex32(flags));
  if (firstNonZero(bytes, kOffCodeCrc + 4, kOffHeaderCrc) != kOffHeaderCrc)
    return dataLoss(f + ": reserved header bytes are not zero");
  h.fileSize = load<uint64_t>(p, kOffFileSize);
  h.planOffset = load<uint64_t>(p, kOffPlanOffset);
  h.planSize = load<uint64_t>(p, kOffPlanSize);
  h.codeOffset = load<uint64_t>(p, kOffCodeOffset);
  h.codeSize = load<uint64_t>(p, kOffCodeSize);
  h.planCrc = load<uint32_t>(p, kOffPlanCrc);
  h.codeCrc = load<uint32_t>(p, kOffCodeCrc);

  if (h.fileSize != bytes.size())
    return dataLoss(f + ": the header records a file of " +
                    std::to_string(h.fileSize) + " bytes but the file has " +
                    std::to_string(bytes.size()) +
                    (bytes.size() < h.fileSize ? " (truncated)" : ""));
  // Sections: plan then code, each aligned, inside the file, not
  // overlapping, all gaps zero. The checks avoid overflow: every offset and
  // size is first compared against the (validated) file size.
  auto section = [&](const char *name, uint64_t off, uint64_t size,
                     uint64_t minOff) -> Status {
    if (off % kSectionAlignment != 0)
      return dataLoss(f + ": " + name + " section offset " +
                      std::to_string(off) + " is not " +
                      std::to_string(kSectionAlignment) + "-byte aligned");
    if (off < minOff || off > h.fileSize || size > h.fileSize - off)
      return dataLoss(f + ": " + name + " section [" + std::to_string(off) +
                      ", +" + std::to_string(size) +
                      ") lies outside the file or overlaps the previous "
                      "part (file size " +
                      std::to_string(h.fileSize) + ")");
    if (size == 0)
      return dataLoss(f + ": " + name + " section is empty");
    return Status::ok();
  };
  GECKO_RETURN_IF_ERROR(section("plan", h.planOffset, h.planSize, kHeaderSize));
  if (h.planSize > kMaxPlanBytes)
    return dataLoss(f + ": plan section of " + std::to_string(h.planSize) +
                    " bytes exceeds the " + std::to_string(kMaxPlanBytes) +
                    "-byte limit");
  GECKO_RETURN_IF_ERROR(
      section("code", h.codeOffset, h.codeSize, h.planOffset + h.planSize));
  struct Gap {
    uint64_t begin, end;
    const char *what;
  } gaps[] = {{kHeaderSize, h.planOffset, "between the header and the plan"},
              {h.planOffset + h.planSize, h.codeOffset,
               "between the plan and the code"},
              {h.codeOffset + h.codeSize, h.fileSize, "after the code"}};
  for (const Gap &g : gaps) {
    uint64_t at = firstNonZero(bytes, g.begin, g.end);
    if (at != g.end)
      return dataLoss(f + ": non-zero padding byte at offset " +
                      std::to_string(at) + " (" + g.what + ")");
  }

  uint32_t planCrc = crc32c(p + h.planOffset, size_t(h.planSize));
  if (planCrc != h.planCrc)
    return dataLoss(f + ": plan section checksum mismatch (stored " +
                    hex32(h.planCrc) + ", computed " + hex32(planCrc) +
                    "): the plan is corrupt");
  uint32_t codeCrc = crc32c(p + h.codeOffset, size_t(h.codeSize));
  if (codeCrc != h.codeCrc)
    return dataLoss(f + ": code section checksum mismatch (stored " +
                    hex32(h.codeCrc) + ", computed " + hex32(codeCrc) +
                    "): the code is corrupt");

  ParsedArtifact out;
  out.header = h;
  std::string planText(reinterpret_cast<const char *>(p + h.planOffset),
                       size_t(h.planSize));
  GECKO_ASSIGN_OR_RETURN(out.plan, planFromJson(planText, f));
  if (out.plan.formatVersion != h.formatVersion ||
      out.plan.kernelAbiVersion != h.kernelAbiVersion)
    return dataLoss(f + ": the plan's versions (format " +
                    std::to_string(out.plan.formatVersion) + ", kernel ABI " +
                    std::to_string(out.plan.kernelAbiVersion) +
                    ") disagree with the header's");
  try {
    out.code.assign(p + h.codeOffset, p + h.codeOffset + h.codeSize);
  } catch (const std::bad_alloc &) {
    return resourceExhausted(f + ": cannot allocate the code section");
  }
  return out;
}

StatusOr<ParsedArtifact> readArtifact(const std::string &path) {
  GECKO_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  return parseArtifact(bytes, path);
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

StatusOr<std::vector<uint8_t>> readFileBytes(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return notFound(path + ": no such file");
    return unavailable(path + ": cannot open: " + errnoText());
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalidArgument(path + ": not a regular file");
  }
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(static_cast<size_t>(st.st_size));
  } catch (const std::bad_alloc &) {
    ::close(fd);
    return resourceExhausted(path + ": cannot allocate " +
                             std::to_string(st.st_size) + " bytes");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ::close(fd);
      return unavailable(path + ": read failed: " + errnoText());
    }
    if (n == 0)
      break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

Status writeFileAtomically(const std::string &path, const void *data,
                           size_t size) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return unavailable(tmp + ": cannot create: " + errnoText());
  auto abandon = [&](Status s) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };
  Status s = writeAll(fd, static_cast<const uint8_t *>(data), size, tmp);
  if (!s.isOk())
    return abandon(s);
  if (::fsync(fd) != 0)
    return abandon(unavailable(tmp + ": fsync failed: " + errnoText()));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return unavailable(tmp + ": close failed: " + errnoText());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status err =
        unavailable(tmp + ": cannot rename to " + path + ": " + errnoText());
    ::unlink(tmp.c_str());
    return err;
  }
  std::string dir = parentDir(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return unavailable(dir +
                       ": cannot open directory to fsync: " + errnoText());
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0)
    return unavailable(dir + ": directory fsync failed: " + errnoText());
  return Status::ok();
}

} // namespace gecko
