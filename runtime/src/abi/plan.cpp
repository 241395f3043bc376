//===- plan.cpp - The .gkm execution plan: validation and JSON ------------===//
//
// This file implements the plan's element types, its structural validation
// and its strict JSON reader and deterministic writer. The reader rejects
// unknown fields, duplicate keys, wrong JSON types and every inconsistency
// validatePlan() knows, with a message naming the function and tensor.
//
//===----------------------------------------------------------------------===//

#include "gecko/abi/artifact_format.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace gecko {

namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

std::string quote(const std::string &s) { return "'" + s + "'"; }

/// Largest byte size a tensor, workspace or buffer may have: products and
/// sums of two such values cannot overflow uint64.
constexpr uint64_t kMaxBytes = uint64_t(1) << 62;

bool isCIdentifier(const std::string &s) {
  if (s.empty())
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0))
      return false;
  }
  return true;
}

/// Validates one tensor's name, dims and byte size. `what` is e.g.
/// "function 'forward': arg 'x'".
Status checkTensor(const TensorSpec &t, const std::string &what) {
  if (t.name.empty())
    return invalidArgument(what + ": empty tensor name");
  uint64_t numel = 1;
  bool zero = false;
  for (int64_t d : t.shape) {
    if (d < 0)
      return invalidArgument(what + ": negative dimension " +
                             std::to_string(d) + " in shape " +
                             shapeToString(t.shape));
    if (d == 0)
      zero = true;
    else if (!zero && numel > kMaxBytes / uint64_t(d))
      return invalidArgument(what + ": shape " + shapeToString(t.shape) +
                             " is too large");
    else if (!zero)
      numel *= uint64_t(d);
  }
  if (!zero && numel > kMaxBytes / elementTypeSize(t.dtype))
    return invalidArgument(what + ": shape " + shapeToString(t.shape) +
                           " is too large");
  return Status::ok();
}

bool isFloatType(ElementType type) {
  return type == ElementType::kF32 || type == ElementType::kF64 ||
         type == ElementType::kBF16 || type == ElementType::kF16;
}

std::string numberText(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

Status checkInit(const InitSpec &init, const std::string &what) {
  std::string where = what + ": init '" + initKindName(init.kind) + "'";
  for (double v : {init.value, init.mean, init.stddev, init.a, init.b})
    if (!std::isfinite(v))
      return invalidArgument(where + ": values must be finite");
  switch (init.kind) {
  case InitKind::kZeros:
  case InitKind::kOnes:
  case InitKind::kConstant:
    break;
  case InitKind::kCemaTheta:
    break;
  case InitKind::kNormal:
  case InitKind::kTruncatedNormal:
  case InitKind::kComplexRealNormal:
    if (init.stddev < 0)
      return invalidArgument(where + ": negative std " +
                             numberText(init.stddev));
    if (init.kind == InitKind::kTruncatedNormal && !(init.a < init.b))
      return invalidArgument(where + ": empty interval [a, b] = [" +
                             numberText(init.a) + ", " + numberText(init.b) +
                             "] (need a < b)");
    break;
  case InitKind::kUniform:
    if (!(init.a < init.b))
      return invalidArgument(where + ": empty interval [a, b) = [" +
                             numberText(init.a) + ", " + numberText(init.b) +
                             ") (need a < b)");
    break;
  }
  return Status::ok();
}

Status checkFunction(const FunctionPlan &f) {
  std::string fn = "function " + quote(f.name);
  if (f.name.empty())
    return invalidArgument("function with an empty name");
  if (f.mode.empty())
    return invalidArgument(fn + ": empty mode");
  if (!isCIdentifier(f.entry))
    return invalidArgument(fn + ": entry " + quote(f.entry) +
                           " is not a C identifier");
  std::set<std::string> names;
  for (const ArgSpec &a : f.args) {
    std::string what = fn + ": arg " + quote(a.name);
    GECKO_RETURN_IF_ERROR(checkTensor(a, what));
    if (!names.insert(a.name).second)
      return invalidArgument(fn + ": duplicate tensor name " + quote(a.name));
    if (a.range) {
      if (!isIntegerType(a.dtype))
        return invalidArgument(what +
                               ": a range is only allowed on integer "
                               "dtypes, not " +
                               elementTypeName(a.dtype));
      if (a.range->lo >= a.range->hi)
        return invalidArgument(what + ": empty range [" +
                               std::to_string(a.range->lo) + ", " +
                               std::to_string(a.range->hi) + ")");
    }
    if (a.init) {
      if (a.kind != ArgKind::kParam)
        return invalidArgument(what +
                               ": init is only allowed on param args, "
                               "not on " +
                               argKindName(a.kind) + " args");
      // Integer params (e.g. norm prior counts) can only start at zero.
      if (!isFloatType(a.dtype) && a.init->kind != InitKind::kZeros)
        return invalidArgument(what + ": init '" + initKindName(a.init->kind) +
                               "' needs a float dtype, not " +
                               elementTypeName(a.dtype) +
                               " (integer params allow only 'zeros')");
      GECKO_RETURN_IF_ERROR(checkInit(*a.init, what));
      if (a.init->kind == InitKind::kComplexRealNormal &&
          (a.shape.empty() || a.shape.back() != 2))
        return invalidArgument(what +
                               ": init 'complex_real_normal' needs a last "
                               "dimension of 2 (re, im), not shape " +
                               shapeToString(a.shape));
    }
  }
  for (const TensorSpec &r : f.results) {
    std::string what = fn + ": result " + quote(r.name);
    GECKO_RETURN_IF_ERROR(checkTensor(r, what));
    if (!names.insert(r.name).second)
      return invalidArgument(fn + ": duplicate tensor name " + quote(r.name));
    if (r.name.rfind(kNextResultPrefix, 0) != 0)
      continue;
    std::string target = nextResultTarget(r.name);
    const ArgSpec *arg = nullptr;
    for (const ArgSpec &a : f.args)
      if (a.name == target)
        arg = &a;
    if (!arg)
      return invalidArgument(what + " updates argument " + quote(target) +
                             ", which function " + quote(f.name) +
                             " does not have");
    if (arg->kind == ArgKind::kInput)
      return invalidArgument(what + " updates input argument " + quote(target) +
                             "; only param and state args can be updated");
    if (arg->dtype != r.dtype || arg->shape != r.shape)
      return invalidArgument(what + " is " + elementTypeName(r.dtype) + " " +
                             shapeToString(r.shape) + " but the argument " +
                             quote(target) + " it updates is " +
                             elementTypeName(arg->dtype) + " " +
                             shapeToString(arg->shape));
  }
  std::set<std::string> reduced;
  for (size_t i = 0; i < f.collectives.size(); ++i) {
    const CollectiveSpec &c = f.collectives[i];
    std::string what = fn + ": collectives[" + std::to_string(i) + "]";
    if (c.op != "all_reduce")
      return invalidArgument(what + ": unknown op " + quote(c.op) +
                             " (expected 'all_reduce')");
    if (c.reduction != "mean" && c.reduction != "sum")
      return invalidArgument(what + ": unknown reduction " +
                             quote(c.reduction) +
                             " (expected 'mean' or 'sum')");
    if (c.group != "data" && c.group != "chunk")
      return invalidArgument(what + ": unknown group " + quote(c.group) +
                             " (expected 'data' or 'chunk')");
    if (c.tensors.empty())
      return invalidArgument(what + ": names no tensors");
    for (const std::string &t : c.tensors) {
      const ArgSpec *arg = nullptr;
      for (const ArgSpec &a : f.args)
        if (a.name == t)
          arg = &a;
      if (!arg)
        return invalidArgument(what + ": tensor " + quote(t) +
                               " is not an argument of the function");
      if (arg->kind != ArgKind::kInput)
        return invalidArgument(what + ": tensor " + quote(t) + " is a " +
                               argKindName(arg->kind) +
                               " arg; only input args are reduced");
      if (!isFloatType(arg->dtype))
        return invalidArgument(what + ": tensor " + quote(t) + " is " +
                               elementTypeName(arg->dtype) +
                               "; only float tensors are reduced");
      if (!reduced.insert(t).second)
        return invalidArgument(what + ": tensor " + quote(t) +
                               " is reduced twice");
    }
  }
  std::set<std::string> signalled;
  for (size_t i = 0; i < f.signals.size(); ++i) {
    const SignalSpec &s = f.signals[i];
    std::string what = fn + ": signals[" + std::to_string(i) + "]";
    if (s.id != i)
      return invalidArgument(what + " has id " + std::to_string(s.id) +
                             "; ids number the signals 0, 1, ... in order");
    if (s.tensors.empty())
      return invalidArgument(what + ": names no tensors");
    for (const std::string &t : s.tensors) {
      const TensorSpec *result = nullptr;
      for (const TensorSpec &r : f.results)
        if (r.name == t)
          result = &r;
      if (!result)
        return invalidArgument(what + ": tensor " + quote(t) +
                               " is not a result of the function");
      if (!signalled.insert(t).second)
        return invalidArgument(what + ": tensor " + quote(t) +
                               " is signalled twice");
    }
  }
  const WorkspaceSpec &w = f.workspace;
  if (w.bytes > kMaxBytes)
    return invalidArgument(fn + ": workspace of " + std::to_string(w.bytes) +
                           " bytes is too large");
  if (w.alignment == 0 || (w.alignment & (w.alignment - 1)) != 0 ||
      w.alignment > (uint64_t(1) << 20))
    return invalidArgument(fn + ": workspace alignment " +
                           std::to_string(w.alignment) +
                           " is not a power of two <= 1 MiB");
  for (size_t i = 0; i < f.buffers.size(); ++i) {
    const BufferSpec &b = f.buffers[i];
    if (b.offset > w.bytes || b.bytes > w.bytes - b.offset)
      return invalidArgument(fn + ": buffer " + std::to_string(i) +
                             " [offset " + std::to_string(b.offset) + ", " +
                             std::to_string(b.bytes) +
                             " bytes] lies outside the workspace of " +
                             std::to_string(w.bytes) + " bytes");
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// JSON reading helpers: each throws nothing and names the field.
//===----------------------------------------------------------------------===//

class Reader {
public:
  explicit Reader(std::string context) : context_(std::move(context)) {}

  Status fail(const std::string &what) const {
    return dataLoss(context_ + ": " + what);
  }

  /// Rejects keys of `obj` that are not in `allowed`.
  Status onlyKeys(const Json &obj, const std::string &where,
                  std::initializer_list<const char *> allowed) const {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool ok = false;
      for (const char *a : allowed)
        ok = ok || it.key() == a;
      if (!ok)
        return fail(where + ": unknown field " + quote(it.key()));
    }
    return Status::ok();
  }

  StatusOr<const Json *> field(const Json &obj, const std::string &where,
                               const char *key, bool required = true) const {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required)
        return fail(where + ": missing field " + quote(key));
      return static_cast<const Json *>(nullptr);
    }
    return &*it;
  }

  /// Calls `each(element, "where: key[i]")` for every element of the
  /// optional array field `key` of `obj`, after checking that it is an
  /// array of JSON objects.
  template <typename Fn>
  Status objects(const Json &obj, const std::string &where, const char *key,
                 Fn &&each) const {
    GECKO_ASSIGN_OR_RETURN(const Json *arr,
                           field(obj, where, key, /*required=*/false));
    if (!arr)
      return Status::ok();
    if (!arr->is_array())
      return fail(where + ": field " + quote(key) + " is not an array");
    for (size_t i = 0; i < arr->size(); ++i) {
      const Json &e = (*arr)[i];
      std::string what = where + ": " + key + "[" + std::to_string(i) + "]";
      if (!e.is_object())
        return fail(what + " is not a JSON object");
      GECKO_RETURN_IF_ERROR(each(e, what));
    }
    return Status::ok();
  }

  /// The required array-of-strings field `key` of `obj`.
  StatusOr<std::vector<std::string>>
  strings(const Json &obj, const std::string &where, const char *key) const {
    GECKO_ASSIGN_OR_RETURN(const Json *arr, field(obj, where, key));
    if (!arr->is_array())
      return fail(where + ": field " + quote(key) + " is not an array");
    std::vector<std::string> out;
    for (const Json &t : *arr) {
      if (!t.is_string())
        return fail(where + ": field " + quote(key) + " holds a non-string");
      out.push_back(t.get<std::string>());
    }
    return out;
  }

  StatusOr<std::string> string(const Json &obj, const std::string &where,
                               const char *key) const {
    GECKO_ASSIGN_OR_RETURN(const Json *j, field(obj, where, key));
    if (!j->is_string())
      return fail(where + ": field " + quote(key) + " is not a string");
    return j->get<std::string>();
  }

  StatusOr<int64_t> integer(const Json &j, const std::string &what) const {
    if (j.is_number_unsigned()) {
      uint64_t v = j.get<uint64_t>();
      if (v > uint64_t(std::numeric_limits<int64_t>::max()))
        return fail(what + " is too large");
      return int64_t(v);
    }
    if (j.is_number_integer())
      return j.get<int64_t>();
    return fail(what + " is not an integer");
  }

  StatusOr<double> number(const Json &obj, const std::string &where,
                          const char *key) const {
    GECKO_ASSIGN_OR_RETURN(const Json *j, field(obj, where, key));
    if (!j->is_number())
      return fail(where + ": field " + quote(key) + " is not a number");
    return j->get<double>();
  }

  StatusOr<uint64_t> unsignedInt(const Json &obj, const std::string &where,
                                 const char *key) const {
    GECKO_ASSIGN_OR_RETURN(const Json *j, field(obj, where, key));
    GECKO_ASSIGN_OR_RETURN(int64_t v,
                           integer(*j, where + ": field " + quote(key)));
    if (v < 0)
      return fail(where + ": field " + quote(key) + " is negative (" +
                  std::to_string(v) + ")");
    return uint64_t(v);
  }

  Status tensor(const Json &j, const std::string &where, TensorSpec &t,
                bool isArg) const {
    if (!j.is_object())
      return fail(where + " is not a JSON object");
    GECKO_ASSIGN_OR_RETURN(t.name, string(j, where, "name"));
    std::string what = where + " " + quote(t.name);
    if (isArg)
      GECKO_RETURN_IF_ERROR(onlyKeys(
          j, what, {"kind", "name", "dtype", "shape", "range", "init"}));
    else
      GECKO_RETURN_IF_ERROR(onlyKeys(j, what, {"name", "dtype", "shape"}));
    GECKO_ASSIGN_OR_RETURN(std::string dtype, string(j, what, "dtype"));
    StatusOr<ElementType> type = parseElementType(dtype);
    if (!type.isOk())
      return fail(what + ": " + type.status().message());
    t.dtype = *type;
    GECKO_ASSIGN_OR_RETURN(const Json *shape, field(j, what, "shape"));
    if (!shape->is_array())
      return fail(what + ": field 'shape' is not an array");
    for (const Json &d : *shape) {
      GECKO_ASSIGN_OR_RETURN(int64_t v, integer(d, what + ": a dimension"));
      t.shape.push_back(v);
    }
    return Status::ok();
  }

  const std::string &context() const { return context_; }

private:
  std::string context_;
};

StatusOr<InitSpec> readInit(const Reader &rd, const Json &j,
                            const std::string &where) {
  if (!j.is_object())
    return rd.fail(where + " is not a JSON object");
  GECKO_ASSIGN_OR_RETURN(std::string kind, rd.string(j, where, "kind"));
  InitSpec init;
  if (kind == "zeros" || kind == "ones") {
    init.kind = kind == "zeros" ? InitKind::kZeros : InitKind::kOnes;
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(j, where, {"kind"}));
  } else if (kind == "constant") {
    init.kind = InitKind::kConstant;
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(j, where, {"kind", "value"}));
    GECKO_ASSIGN_OR_RETURN(init.value, rd.number(j, where, "value"));
  } else if (kind == "normal") {
    init.kind = InitKind::kNormal;
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(j, where, {"kind", "mean", "std"}));
    GECKO_ASSIGN_OR_RETURN(init.mean, rd.number(j, where, "mean"));
    GECKO_ASSIGN_OR_RETURN(init.stddev, rd.number(j, where, "std"));
  } else if (kind == "truncated_normal") {
    init.kind = InitKind::kTruncatedNormal;
    GECKO_RETURN_IF_ERROR(
        rd.onlyKeys(j, where, {"kind", "mean", "std", "a", "b"}));
    GECKO_ASSIGN_OR_RETURN(init.mean, rd.number(j, where, "mean"));
    GECKO_ASSIGN_OR_RETURN(init.stddev, rd.number(j, where, "std"));
    GECKO_ASSIGN_OR_RETURN(init.a, rd.number(j, where, "a"));
    GECKO_ASSIGN_OR_RETURN(init.b, rd.number(j, where, "b"));
  } else if (kind == "cema_theta") {
    init.kind = InitKind::kCemaTheta;
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(j, where, {"kind"}));
  } else if (kind == "complex_real_normal") {
    init.kind = InitKind::kComplexRealNormal;
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(j, where, {"kind", "mean", "std"}));
    GECKO_ASSIGN_OR_RETURN(init.mean, rd.number(j, where, "mean"));
    GECKO_ASSIGN_OR_RETURN(init.stddev, rd.number(j, where, "std"));
  } else if (kind == "uniform") {
    init.kind = InitKind::kUniform;
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(j, where, {"kind", "a", "b"}));
    GECKO_ASSIGN_OR_RETURN(init.a, rd.number(j, where, "a"));
    GECKO_ASSIGN_OR_RETURN(init.b, rd.number(j, where, "b"));
  } else {
    return rd.fail(where + ": unknown kind " + quote(kind) +
                   " (expected zeros, ones, constant, normal, "
                   "truncated_normal, uniform, cema_theta or "
                   "complex_real_normal)");
  }
  return init;
}

Status readFunction(const Reader &rd, const Json &j, size_t index,
                    FunctionPlan &f) {
  std::string where = "functions[" + std::to_string(index) + "]";
  if (!j.is_object())
    return rd.fail(where + " is not a JSON object");
  GECKO_ASSIGN_OR_RETURN(f.name, rd.string(j, where, "name"));
  std::string fn = "function " + quote(f.name);
  GECKO_RETURN_IF_ERROR(
      rd.onlyKeys(j, fn,
                  {"name", "mode", "entry", "args", "results", "workspace",
                   "buffers", "collectives", "signals"}));
  GECKO_ASSIGN_OR_RETURN(f.mode, rd.string(j, fn, "mode"));
  GECKO_ASSIGN_OR_RETURN(f.entry, rd.string(j, fn, "entry"));

  GECKO_ASSIGN_OR_RETURN(const Json *args, rd.field(j, fn, "args"));
  if (!args->is_array())
    return rd.fail(fn + ": field 'args' is not an array");
  for (const Json &a : *args) {
    ArgSpec spec;
    GECKO_RETURN_IF_ERROR(rd.tensor(a, fn + ": arg", spec, /*isArg=*/true));
    std::string what = fn + ": arg " + quote(spec.name);
    GECKO_ASSIGN_OR_RETURN(std::string kind, rd.string(a, what, "kind"));
    if (kind == "input")
      spec.kind = ArgKind::kInput;
    else if (kind == "param")
      spec.kind = ArgKind::kParam;
    else if (kind == "state")
      spec.kind = ArgKind::kState;
    else
      return rd.fail(what + ": unknown kind " + quote(kind) +
                     " (expected 'input', 'param' or 'state')");
    GECKO_ASSIGN_OR_RETURN(const Json *range,
                           rd.field(a, what, "range", /*required=*/false));
    if (range) {
      if (!range->is_array() || range->size() != 2)
        return rd.fail(what + ": field 'range' must be [lo, hi]");
      ValueRange r;
      GECKO_ASSIGN_OR_RETURN(r.lo, rd.integer((*range)[0], what + ": range"));
      GECKO_ASSIGN_OR_RETURN(r.hi, rd.integer((*range)[1], what + ": range"));
      spec.range = r;
    }
    GECKO_ASSIGN_OR_RETURN(const Json *init,
                           rd.field(a, what, "init", /*required=*/false));
    if (init) {
      GECKO_ASSIGN_OR_RETURN(InitSpec is, readInit(rd, *init, what + ": init"));
      spec.init = is;
    }
    f.args.push_back(std::move(spec));
  }

  GECKO_ASSIGN_OR_RETURN(const Json *results, rd.field(j, fn, "results"));
  if (!results->is_array())
    return rd.fail(fn + ": field 'results' is not an array");
  for (const Json &r : *results) {
    TensorSpec spec;
    GECKO_RETURN_IF_ERROR(rd.tensor(r, fn + ": result", spec, /*isArg=*/false));
    f.results.push_back(std::move(spec));
  }

  GECKO_ASSIGN_OR_RETURN(const Json *ws,
                         rd.field(j, fn, "workspace", /*required=*/false));
  if (ws) {
    std::string what = fn + ": workspace";
    if (!ws->is_object())
      return rd.fail(what + " is not a JSON object");
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(*ws, what, {"bytes", "alignment"}));
    GECKO_ASSIGN_OR_RETURN(f.workspace.bytes,
                           rd.unsignedInt(*ws, what, "bytes"));
    GECKO_ASSIGN_OR_RETURN(const Json *align,
                           rd.field(*ws, what, "alignment", false));
    if (align) {
      GECKO_ASSIGN_OR_RETURN(f.workspace.alignment,
                             rd.unsignedInt(*ws, what, "alignment"));
    }
  }

  GECKO_RETURN_IF_ERROR(rd.objects(
      j, fn, "buffers", [&](const Json &b, const std::string &what) -> Status {
        GECKO_RETURN_IF_ERROR(rd.onlyKeys(b, what, {"offset", "bytes"}));
        BufferSpec spec;
        GECKO_ASSIGN_OR_RETURN(spec.offset, rd.unsignedInt(b, what, "offset"));
        GECKO_ASSIGN_OR_RETURN(spec.bytes, rd.unsignedInt(b, what, "bytes"));
        f.buffers.push_back(spec);
        return Status::ok();
      }));

  GECKO_RETURN_IF_ERROR(rd.objects(
      j, fn, "collectives",
      [&](const Json &c, const std::string &what) -> Status {
        GECKO_RETURN_IF_ERROR(
            rd.onlyKeys(c, what, {"op", "reduction", "group", "tensors"}));
        CollectiveSpec spec;
        GECKO_ASSIGN_OR_RETURN(spec.op, rd.string(c, what, "op"));
        GECKO_ASSIGN_OR_RETURN(spec.reduction, rd.string(c, what, "reduction"));
        GECKO_ASSIGN_OR_RETURN(spec.group, rd.string(c, what, "group"));
        GECKO_ASSIGN_OR_RETURN(spec.tensors, rd.strings(c, what, "tensors"));
        f.collectives.push_back(std::move(spec));
        return Status::ok();
      }));

  return rd.objects(
      j, fn, "signals", [&](const Json &s, const std::string &what) -> Status {
        GECKO_RETURN_IF_ERROR(rd.onlyKeys(s, what, {"id", "tensors"}));
        SignalSpec spec;
        GECKO_ASSIGN_OR_RETURN(uint64_t id, rd.unsignedInt(s, what, "id"));
        if (id > 0xffffffffu)
          return rd.fail(what + ": id out of range");
        spec.id = uint32_t(id);
        GECKO_ASSIGN_OR_RETURN(spec.tensors, rd.strings(s, what, "tensors"));
        f.signals.push_back(std::move(spec));
        return Status::ok();
      });
}

OrderedJson initToJson(const InitSpec &init) {
  OrderedJson j = OrderedJson::object();
  j["kind"] = initKindName(init.kind);
  switch (init.kind) {
  case InitKind::kZeros:
  case InitKind::kOnes:
    break;
  case InitKind::kConstant:
    j["value"] = init.value;
    break;
  case InitKind::kNormal:
  case InitKind::kComplexRealNormal:
    j["mean"] = init.mean;
    j["std"] = init.stddev;
    break;
  case InitKind::kCemaTheta:
    break;
  case InitKind::kTruncatedNormal:
    j["mean"] = init.mean;
    j["std"] = init.stddev;
    j["a"] = init.a;
    j["b"] = init.b;
    break;
  case InitKind::kUniform:
    j["a"] = init.a;
    j["b"] = init.b;
    break;
  }
  return j;
}

OrderedJson tensorToJson(const TensorSpec &t) {
  OrderedJson j = OrderedJson::object();
  j["name"] = t.name;
  j["dtype"] = elementTypeName(t.dtype);
  j["shape"] = t.shape;
  return j;
}

} // namespace

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

const char *elementTypeName(ElementType type) {
  switch (type) {
  case ElementType::kF32:
    return "f32";
  case ElementType::kF64:
    return "f64";
  case ElementType::kBF16:
    return "bf16";
  case ElementType::kF16:
    return "f16";
  case ElementType::kI64:
    return "i64";
  case ElementType::kI32:
    return "i32";
  case ElementType::kI8:
    return "i8";
  case ElementType::kI1:
    return "i1";
  }
  return "?";
}

StatusOr<ElementType> parseElementType(const std::string &name) {
  static const std::pair<const char *, ElementType> kTable[] = {
      {"f32", ElementType::kF32},   {"f64", ElementType::kF64},
      {"bf16", ElementType::kBF16}, {"f16", ElementType::kF16},
      {"i64", ElementType::kI64},   {"i32", ElementType::kI32},
      {"i8", ElementType::kI8},     {"i1", ElementType::kI1}};
  for (const auto &[spelling, type] : kTable)
    if (name == spelling)
      return type;
  return invalidArgument("unknown dtype " + quote(name) +
                         " (expected f32, f64, bf16, f16, i64, i32, i8 or i1)");
}

size_t elementTypeSize(ElementType type) {
  switch (type) {
  case ElementType::kF64:
  case ElementType::kI64:
    return 8;
  case ElementType::kF32:
  case ElementType::kI32:
    return 4;
  case ElementType::kBF16:
  case ElementType::kF16:
    return 2;
  case ElementType::kI8:
  case ElementType::kI1:
    return 1;
  }
  return 1;
}

bool isIntegerType(ElementType type) {
  return type == ElementType::kI64 || type == ElementType::kI32 ||
         type == ElementType::kI8 || type == ElementType::kI1;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const char *argKindName(ArgKind kind) {
  switch (kind) {
  case ArgKind::kInput:
    return "input";
  case ArgKind::kParam:
    return "param";
  case ArgKind::kState:
    return "state";
  }
  return "?";
}

std::string nextResultTarget(const std::string &resultName) {
  size_t n = sizeof(kNextResultPrefix) - 1;
  if (resultName.size() <= n || resultName.compare(0, n, kNextResultPrefix))
    return "";
  return resultName.substr(n);
}

const char *initKindName(InitKind kind) {
  switch (kind) {
  case InitKind::kZeros:
    return "zeros";
  case InitKind::kOnes:
    return "ones";
  case InitKind::kConstant:
    return "constant";
  case InitKind::kNormal:
    return "normal";
  case InitKind::kTruncatedNormal:
    return "truncated_normal";
  case InitKind::kUniform:
    return "uniform";
  case InitKind::kCemaTheta:
    return "cema_theta";
  case InitKind::kComplexRealNormal:
    return "complex_real_normal";
  }
  return "?";
}

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0)
      return 0;
    n *= d;
  }
  return n;
}

const FunctionPlan *ArtifactPlan::findFunction(const std::string &name) const {
  for (const FunctionPlan &f : functions)
    if (f.name == name)
      return &f;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Validation and JSON
//===----------------------------------------------------------------------===//

Status validatePlan(const ArtifactPlan &plan) {
  if (plan.formatVersion != GECKO_ARTIFACT_FORMAT_VERSION)
    return failedPrecondition(
        "plan format_version " + std::to_string(plan.formatVersion) +
        " is not supported (this build reads version " +
        std::to_string(GECKO_ARTIFACT_FORMAT_VERSION) + ")");
  if (plan.kernelAbiVersion < GECKO_KERNEL_ABI_MIN_VERSION ||
      plan.kernelAbiVersion > GECKO_KERNEL_ABI_VERSION)
    return failedPrecondition(
        "plan kernel_abi_version " + std::to_string(plan.kernelAbiVersion) +
        " is not supported (this build uses versions " +
        std::to_string(GECKO_KERNEL_ABI_MIN_VERSION) + " to " +
        std::to_string(GECKO_KERNEL_ABI_VERSION) + ")");
  const TargetSpec &t = plan.target;
  if (t.kind != "cpu" && t.kind != "cuda")
    return invalidArgument("unknown target kind " + quote(t.kind) +
                           " (format v1 knows 'cpu' and 'cuda')");
  if (t.codeFormat != "elf-shared-object")
    return invalidArgument("unknown code_format " + quote(t.codeFormat) +
                           " for target " + quote(t.kind) +
                           " (expected 'elf-shared-object')");
  if (t.triple.empty())
    return invalidArgument("target triple is empty");
  if (t.kind == "cpu") {
    if (!t.chip.empty() || !t.deviceImageFormat.empty() || !t.kernels.empty())
      return invalidArgument(
          "target 'cpu' has a chip, device image format or kernel list");
  } else {
    if (t.chip.rfind("sm_", 0) != 0 || t.chip.size() < 5)
      return invalidArgument("target 'cuda' has chip " + quote(t.chip) +
                             " (expected sm_<N>, e.g. 'sm_90a')");
    if (t.deviceImageFormat != "fatbin" && t.deviceImageFormat != "cubin" &&
        t.deviceImageFormat != "ptx")
      return invalidArgument("target 'cuda' has device_image_format " +
                             quote(t.deviceImageFormat) +
                             " (expected 'fatbin', 'cubin' or 'ptx')");
    std::set<std::string> kernelNames;
    for (const std::string &k : t.kernels) {
      if (!isCIdentifier(k))
        return invalidArgument("target kernel name " + quote(k) +
                               " is not a C identifier");
      if (!kernelNames.insert(k).second)
        return invalidArgument("duplicate target kernel " + quote(k));
    }
  }
  if (plan.precision != "fp32" && plan.precision != "bf16")
    return invalidArgument("unknown precision " + quote(plan.precision) +
                           " (expected 'fp32' or 'bf16')");
  if (plan.functions.empty())
    return invalidArgument("plan has no functions");
  std::set<std::string> names;
  for (const FunctionPlan &f : plan.functions) {
    GECKO_RETURN_IF_ERROR(checkFunction(f));
    if (!f.signals.empty() && plan.kernelAbiVersion < 2)
      return invalidArgument("function " + quote(f.name) +
                             " has ready signals, which need kernel ABI "
                             "version 2 (the plan says " +
                             std::to_string(plan.kernelAbiVersion) + ")");
    if (!names.insert(f.name).second)
      return invalidArgument("duplicate function name " + quote(f.name));
  }
  return Status::ok();
}

StatusOr<std::string> planToJson(const ArtifactPlan &plan) {
  GECKO_RETURN_IF_ERROR(validatePlan(plan));
  try {
    OrderedJson j = OrderedJson::object();
    j["format_version"] = plan.formatVersion;
    j["kernel_abi_version"] = plan.kernelAbiVersion;
    j["producer"] = plan.producer;
    j["target"] = {{"kind", plan.target.kind},
                   {"triple", plan.target.triple},
                   {"code_format", plan.target.codeFormat}};
    if (plan.target.kind == "cuda") {
      j["target"]["chip"] = plan.target.chip;
      j["target"]["device_image_format"] = plan.target.deviceImageFormat;
      j["target"]["kernels"] = plan.target.kernels;
    }
    // Additive to v1 (docs/artifact-format.md, section 2.3): absent means
    // fp32, so fp32 plans are unchanged.
    if (plan.precision != "fp32")
      j["precision"] = plan.precision;
    if (!plan.modelJson.empty()) {
      // Keys are sorted (as the reader's Json does), so a plan read back
      // and written again is byte-identical.
      Json model = Json::parse(plan.modelJson, nullptr,
                               /*allow_exceptions=*/false);
      if (model.is_discarded() || !model.is_object())
        return invalidArgument("model config is not a JSON object");
      j["model"] = OrderedJson::parse(model.dump());
    }
    OrderedJson functions = OrderedJson::array();
    for (const FunctionPlan &f : plan.functions) {
      OrderedJson fj = OrderedJson::object();
      fj["name"] = f.name;
      fj["mode"] = f.mode;
      fj["entry"] = f.entry;
      OrderedJson args = OrderedJson::array();
      for (const ArgSpec &a : f.args) {
        OrderedJson aj = OrderedJson::object();
        aj["kind"] = argKindName(a.kind);
        OrderedJson tj = tensorToJson(a);
        for (auto &kv : tj.items())
          aj[kv.key()] = kv.value();
        if (a.range)
          aj["range"] = {a.range->lo, a.range->hi};
        if (a.init)
          aj["init"] = initToJson(*a.init);
        args.push_back(std::move(aj));
      }
      fj["args"] = std::move(args);
      OrderedJson results = OrderedJson::array();
      for (const TensorSpec &r : f.results)
        results.push_back(tensorToJson(r));
      fj["results"] = std::move(results);
      fj["workspace"] = {{"bytes", f.workspace.bytes},
                         {"alignment", f.workspace.alignment}};
      OrderedJson buffers = OrderedJson::array();
      for (const BufferSpec &b : f.buffers)
        buffers.push_back({{"offset", b.offset}, {"bytes", b.bytes}});
      fj["buffers"] = std::move(buffers);
      if (!f.collectives.empty()) {
        OrderedJson collectives = OrderedJson::array();
        for (const CollectiveSpec &c : f.collectives) {
          OrderedJson cj = OrderedJson::object();
          cj["op"] = c.op;
          cj["reduction"] = c.reduction;
          cj["group"] = c.group;
          cj["tensors"] = c.tensors;
          collectives.push_back(std::move(cj));
        }
        fj["collectives"] = std::move(collectives);
      }
      if (!f.signals.empty()) {
        OrderedJson signals = OrderedJson::array();
        for (const SignalSpec &sg : f.signals) {
          OrderedJson sj = OrderedJson::object();
          sj["id"] = sg.id;
          sj["tensors"] = sg.tensors;
          signals.push_back(std::move(sj));
        }
        fj["signals"] = std::move(signals);
      }
      functions.push_back(std::move(fj));
    }
    j["functions"] = std::move(functions);
    return j.dump(1, ' ');
  } catch (const std::exception &e) {
    // dump() throws on invalid UTF-8 in a name.
    return invalidArgument(std::string("cannot encode the plan as JSON: ") +
                           e.what());
  }
}

StatusOr<ArtifactPlan> planFromJson(const std::string &text,
                                    const std::string &source) {
  Reader rd(source + ": plan");
  // Duplicate keys would silently shadow each other; reject them at any
  // depth (one key set per open object).
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  Json::parser_callback_t cb = [&](int, Json::parse_event_t event,
                                   Json &parsed) {
    if (event == Json::parse_event_t::object_start)
      open.emplace_back();
    else if (event == Json::parse_event_t::object_end && !open.empty())
      open.pop_back();
    else if (event == Json::parse_event_t::key && !open.empty() &&
             duplicate.empty() && parsed.is_string() &&
             !open.back().insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  Json j;
  try {
    j = Json::parse(text, cb, /*allow_exceptions=*/false);
  } catch (const std::exception &e) {
    return rd.fail(std::string("malformed JSON: ") + e.what());
  }
  if (j.is_discarded())
    return rd.fail("not valid JSON");
  if (!duplicate.empty())
    return rd.fail("duplicate key " + quote(duplicate));
  if (!j.is_object())
    return rd.fail("not a JSON object");

  ArtifactPlan plan;
  try {
    GECKO_RETURN_IF_ERROR(
        rd.onlyKeys(j, "top level",
                    {"format_version", "kernel_abi_version", "producer",
                     "target", "precision", "model", "functions"}));
    GECKO_ASSIGN_OR_RETURN(uint64_t fv,
                           rd.unsignedInt(j, "top level", "format_version"));
    GECKO_ASSIGN_OR_RETURN(
        uint64_t av, rd.unsignedInt(j, "top level", "kernel_abi_version"));
    if (fv > 0xffffffffu || av > 0xffffffffu)
      return rd.fail("version field out of range");
    plan.formatVersion = uint32_t(fv);
    plan.kernelAbiVersion = uint32_t(av);
    GECKO_ASSIGN_OR_RETURN(plan.producer,
                           rd.string(j, "top level", "producer"));
    GECKO_ASSIGN_OR_RETURN(const Json *target,
                           rd.field(j, "top level", "target"));
    if (!target->is_object())
      return rd.fail("field 'target' is not a JSON object");
    GECKO_RETURN_IF_ERROR(rd.onlyKeys(*target, "target",
                                      {"kind", "triple", "code_format", "chip",
                                       "device_image_format", "kernels"}));
    GECKO_ASSIGN_OR_RETURN(plan.target.kind,
                           rd.string(*target, "target", "kind"));
    GECKO_ASSIGN_OR_RETURN(plan.target.triple,
                           rd.string(*target, "target", "triple"));
    GECKO_ASSIGN_OR_RETURN(plan.target.codeFormat,
                           rd.string(*target, "target", "code_format"));
    if (plan.target.kind == "cuda") {
      GECKO_ASSIGN_OR_RETURN(plan.target.chip,
                             rd.string(*target, "target", "chip"));
      GECKO_ASSIGN_OR_RETURN(
          plan.target.deviceImageFormat,
          rd.string(*target, "target", "device_image_format"));
      GECKO_ASSIGN_OR_RETURN(const Json *kernels,
                             rd.field(*target, "target", "kernels"));
      if (!kernels->is_array())
        return rd.fail("field 'target.kernels' is not an array");
      for (size_t i = 0; i < kernels->size(); ++i) {
        if (!(*kernels)[i].is_string())
          return rd.fail("target.kernels[" + std::to_string(i) +
                         "] is not a string");
        plan.target.kernels.push_back((*kernels)[i].get<std::string>());
      }
    } else {
      // The cuda-only fields must not ride along unread on another target.
      for (const char *key : {"chip", "device_image_format", "kernels"})
        if (target->contains(key))
          return rd.fail(std::string("field 'target.") + key +
                         "' is only allowed on a 'cuda' target");
    }
    if (j.contains("precision")) {
      GECKO_ASSIGN_OR_RETURN(plan.precision,
                             rd.string(j, "top level", "precision"));
    }
    GECKO_ASSIGN_OR_RETURN(const Json *model,
                           rd.field(j, "top level", "model", false));
    if (model) {
      if (!model->is_object())
        return rd.fail("field 'model' is not a JSON object");
      plan.modelJson = model->dump();
    }
    GECKO_ASSIGN_OR_RETURN(const Json *functions,
                           rd.field(j, "top level", "functions"));
    if (!functions->is_array())
      return rd.fail("field 'functions' is not an array");
    for (size_t i = 0; i < functions->size(); ++i) {
      FunctionPlan f;
      GECKO_RETURN_IF_ERROR(readFunction(rd, (*functions)[i], i, f));
      plan.functions.push_back(std::move(f));
    }
  } catch (const std::exception &e) {
    return rd.fail(std::string("malformed plan: ") + e.what());
  }
  Status valid = validatePlan(plan);
  if (!valid.isOk())
    return Status(valid.code(), rd.context() + ": " + valid.message());
  return plan;
}

} // namespace gecko
