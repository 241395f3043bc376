//===- checkpoint.cpp - Atomic, checksummed training checkpoints ----------===//

#include "gecko/runtime/init.h"
#include "gecko/runtime/safetensors.h"
#include "gecko/runtime/training.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <dirent.h>

namespace gecko {

/// CRC-32C over every tensor's name, dtype, shape and bytes, in name order.
uint32_t tensorsCrc32c(const TensorMap &tensors) {
  uint32_t crc = 0;
  for (const auto &[name, t] : tensors) {
    std::string head = name + '\0' + elementTypeName(t.dtype()) +
                       shapeToString(t.shape()) + '\0';
    crc = crc32c(head.data(), head.size(), crc);
    crc = crc32c(t.data(), t.byteSize(), crc);
  }
  return crc;
}

namespace {

std::string hex(uint64_t v, int digits) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%0*llx", digits, (unsigned long long)v);
  return buf;
}

} // namespace

std::string checkpointFileName(int64_t step) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "step-%08lld.safetensors", (long long)step);
  return buf;
}

std::vector<std::pair<int64_t, std::string>>
listCheckpoints(const std::string &dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return out;
  const std::string prefix = "step-", suffix = ".safetensors";
  while (struct dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() != prefix.size() + 8 + suffix.size() ||
        name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(prefix.size() + 8, suffix.size(), suffix) != 0)
      continue;
    std::string digits = name.substr(prefix.size(), 8);
    if (!std::all_of(digits.begin(), digits.end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    out.emplace_back(std::stoll(digits), dir + "/" + name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Status writeCheckpointFile(const std::string &path, const TensorMap &tensors,
                           std::map<std::string, std::string> metadata) {
  metadata["tensors_crc32c"] = hex(tensorsCrc32c(tensors), 8);
  return writeTensors(path, tensors, metadata);
}

StatusOr<Checkpoint> readCheckpointFile(const std::string &path) {
  GECKO_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  Checkpoint ck;
  ck.path = path;
  ck.metadata = file.metadata();
  GECKO_ASSIGN_OR_RETURN(ck.tensors, loadTensors(file, file.names()));
  auto it = ck.metadata.find("tensors_crc32c");
  if (it == ck.metadata.end())
    return dataLoss(path + ": not a Gecko checkpoint (no tensors_crc32c in "
                           "the metadata)");
  std::string want = hex(tensorsCrc32c(ck.tensors), 8);
  if (it->second != want)
    return dataLoss(path + ": tensor checksum mismatch (stored " + it->second +
                    ", computed " + want + "): the checkpoint is corrupt");
  return ck;
}

std::string modelSignatureHash(const ArtifactPlan &plan,
                               const FunctionPlan &function) {
  // The model config normalized (sorted keys), then the persistent args.
  std::string text;
  if (!plan.modelJson.empty()) {
    nlohmann::json j = nlohmann::json::parse(plan.modelJson, nullptr, false);
    text = j.is_discarded() ? plan.modelJson : j.dump();
  }
  text += '\n';
  std::vector<std::string> lines;
  for (const ArgSpec &a : function.args)
    if (a.kind != ArgKind::kInput)
      lines.push_back(std::string(argKindName(a.kind)) + " " + a.name + " " +
                      elementTypeName(a.dtype) + " " + shapeToString(a.shape));
  std::sort(lines.begin(), lines.end());
  for (const std::string &l : lines)
    text += l + '\n';
  return hex(fnv1a64(text.data(), text.size()), 16);
}

} // namespace gecko
