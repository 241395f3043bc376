//===- nccl_comm_test.cpp - The NCCL communicator across real GPUs --------===//
//
// Run under mpirun with one rank per GPU (ctest label `distributed` and
// `gpu`; scripts/device/run.sh runs it on the GPU machine). Each rank opens
// cuda:<its index on the host>, joins the NCCL communicator, and checks
// device all-reduces (sum and mean, f32 and f64, several tensors in one
// group, an empty tensor; two groups started overlapped on the
// communication stream and waited for once) against values it computes
// itself, the host collectives that go through MPI, the errors for bad
// input, device send/recv along a chain (two tensors of different dtypes,
// one message each way, as chunk parallelism passes its stream state) and
// its errors, and finally the timeout: rank 0 starts an all-reduce that
// rank 1 never joins and must get DeadlineExceeded within the timeout.
// Prints "SKIP: ..." and exits 0 where there are fewer GPUs than ranks.
//
// `gecko_nccl_comm_test --threads N` runs the same checks with the N ranks
// as threads of one process (no mpirun): a "threads" group bootstraps
// NCCL, and thread r drives cuda:r. `gecko_nccl_comm_test --arguments`
// needs no GPU (CI): the bootstraps and devices createNcclCommunicator
// refuses, and that it leaves the bootstrap to the caller.
//
//===----------------------------------------------------------------------===//

#include "comm_test_checks.h"
#include "gecko/runtime/communicator.h"
#include "gecko/runtime/device.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace gecko;
using namespace gecko::commtest;

namespace {

/// The checks of rank `r` of `n` on its NCCL communicator `c` over `gpu`,
/// ending with the verdict all-reduce; the exit status.
int checkRank(Communicator &c, Device &gpu, int r, int n, const char *mode);

/// --arguments: what createNcclCommunicator refuses before touching NCCL.
int mainArguments() {
  std::unique_ptr<Device> cpu = createCpuDevice();
  std::unique_ptr<Communicator> local = createLocalCommunicator();
  Status s = createNcclCommunicator(local, *cpu).status();
  check(s.code() == StatusCode::kInvalidArgument &&
            s.message().find("needs an MPI communicator (launch with mpirun "
                             "or srun) or a group of ranks in threads "
                             "(gecko-run train --ranks N) to exchange its "
                             "unique id, not 'local'") != std::string::npos,
        "a local bootstrap is refused: " + s.toString(), 0);
  check(local != nullptr, "the refused bootstrap stays with the caller", 0);
  std::unique_ptr<Communicator> none;
  s = createNcclCommunicator(none, *cpu).status();
  check(s.code() == StatusCode::kInvalidArgument &&
            s.message().find("unique id, not none") != std::string::npos,
        "no bootstrap is refused: " + s.toString(), 0);
  StatusOr<std::vector<std::unique_ptr<Communicator>>> group =
      createThreadCommunicators(2);
  checkOk(group.status(), "thread group", 0);
  if (group.isOk()) {
    s = createNcclCommunicator((*group)[0], *cpu).status();
    check(s.code() == StatusCode::kInvalidArgument &&
              s.message().find("the NCCL communicator needs a CUDA device, "
                               "not ") != std::string::npos,
          "a thread bootstrap is accepted, the CPU device refused: " +
              s.toString(),
          0);
    check((*group)[0] != nullptr &&
              std::string((*group)[0]->backend()) == "threads",
          "the thread bootstrap stays with the caller", 0);
  }
  int bad = failures.load();
  std::printf("nccl communicator arguments: %s\n", bad == 0 ? "PASS" : "FAIL");
  return bad == 0 ? 0 : 1;
}

/// --threads N: the ranks as threads of this process.
int mainThreads(int n) {
  StatusOr<int> gpus = cudaDeviceCount();
  if (n < 2 || !gpus.isOk() || *gpus < n) {
    std::printf("SKIP: %d ranks in threads need as many GPUs (this host: "
                "%s)\n",
                n,
                gpus.isOk() ? std::to_string(*gpus).c_str()
                            : gpus.status().toString().c_str());
    return 0;
  }
  StatusOr<std::vector<std::unique_ptr<Communicator>>> group =
      createThreadCommunicators(n);
  if (!group.isOk()) {
    std::fprintf(stderr, "%s\n", group.status().toString().c_str());
    return 1;
  }
  std::vector<int> codes(size_t(n), 1);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      std::unique_ptr<Communicator> comm = std::move((*group)[size_t(r)]);
      comm->setTimeoutSeconds(60);
      StatusOr<std::unique_ptr<Device>> dev = createCudaDevice(r);
      if (!dev.isOk())
        comm->abort(1, "rank " + std::to_string(r) + ": " +
                           dev.status().toString());
      StatusOr<std::unique_ptr<Communicator>> nccl =
          createNcclCommunicator(comm, **dev);
      if (!nccl.isOk())
        comm->abort(1, "rank " + std::to_string(r) + ": " +
                           nccl.status().toString());
      codes[size_t(r)] = checkRank(**nccl, **dev, r, n, " (threads)");
      nccl->reset(); // On this thread, before its device.
    });
  for (std::thread &t : threads)
    t.join();
  for (int code : codes)
    if (code != 0)
      return code;
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 3 && std::strcmp(argv[1], "--threads") == 0)
    return mainThreads(std::atoi(argv[2]));
  if (argc == 2 && std::strcmp(argv[1], "--arguments") == 0)
    return mainArguments();
  StatusOr<std::unique_ptr<Communicator>> made = createCommunicator("mpi");
  if (!made.isOk()) {
    std::fprintf(stderr, "%s\n", made.status().toString().c_str());
    return 1;
  }
  std::unique_ptr<Communicator> mpi = std::move(made).value();
  mpi->setTimeoutSeconds(60);
  int r = mpi->rank(), n = mpi->size();
  // Every rank must agree on skipping, or the others would wait for it.
  StatusOr<int> gpus = cudaDeviceCount();
  double have = gpus.isOk() ? double(*gpus) : 0.0;
  if (!mpi->allReduce(&have, 1, ElementType::kF64, ReduceOp::kMin, "GPUs")
           .isOk())
    return 1;
  int local = localRankFromEnvironment();
  if (local < 0)
    local = r;
  if (have < double(n) || n < 2) {
    if (r == 0)
      std::printf("SKIP: %d ranks need as many GPUs (this host: %s)\n", n,
                  gpus.isOk() ? std::to_string(*gpus).c_str()
                              : gpus.status().toString().c_str());
    return 0;
  }
  StatusOr<std::unique_ptr<Device>> dev = createCudaDevice(local);
  if (!dev.isOk()) {
    std::fprintf(stderr, "%s\n", dev.status().toString().c_str());
    mpi->abort(1, "cannot open the GPU");
  }
  Device &gpu = **dev;
  StatusOr<std::unique_ptr<Communicator>> nccl =
      createNcclCommunicator(mpi, gpu);
  if (!nccl.isOk())
    mpi->abort(1,
               "rank " + std::to_string(r) + ": " + nccl.status().toString());
  return checkRank(**nccl, gpu, r, n, "");
}

namespace {

int checkRank(Communicator &c, Device &gpu, int r, int n, const char *mode) {
  c.setTimeoutSeconds(60);
  check(std::string(c.backend()) == "nccl", "backend", r);
  check(c.hasDeviceCollectives(), "hasDeviceCollectives", r);
  check(c.rank() == r && c.size() == n, "rank and size", r);

  // Device f32 sum of 2^20 elements and f64 mean, in one group, plus an
  // empty tensor: element i of rank r is (r + 1) * (i % 1000 + 1).
  const int64_t kF = int64_t(1) << 20, kD = 4099;
  std::vector<float> f(size_t(kF), 0.0f);
  std::vector<double> d(size_t(kD), 0.0);
  for (int64_t i = 0; i < kF; ++i)
    f[size_t(i)] = float((r + 1) * (i % 1000 + 1));
  for (int64_t i = 0; i < kD; ++i)
    d[size_t(i)] = double(r) * 0.5 + double(i);
  StatusOr<Buffer> fb = gpu.allocate(f.size() * sizeof(float));
  StatusOr<Buffer> db = gpu.allocate(d.size() * sizeof(double));
  if (!fb.isOk() || !db.isOk())
    c.abort(1, "device allocation failed");
  checkOk(gpu.copyFromHost(*fb, 0, f.data(), f.size() * sizeof(float)),
          "upload f32", r);
  checkOk(gpu.copyFromHost(*db, 0, d.data(), d.size() * sizeof(double)),
          "upload f64", r);
  checkOk(c.allReduceOnDevice({{fb->data(), kF, ElementType::kF32},
                               {db->data(), 0, ElementType::kF64}},
                              /*mean=*/false, nullptr, "f32 sum"),
          "device f32 sum", r);
  checkOk(c.allReduceOnDevice({{db->data(), kD, ElementType::kF64}},
                              /*mean=*/true, nullptr, "f64 mean"),
          "device f64 mean", r);
  checkOk(gpu.copyToHost(f.data(), *fb, 0, f.size() * sizeof(float)),
          "download f32", r);
  checkOk(gpu.copyToHost(d.data(), *db, 0, d.size() * sizeof(double)),
          "download f64", r);
  double ranksSum = n * (n + 1) / 2.0;
  int bad = 0;
  for (int64_t i = 0; i < kF; ++i)
    bad += f[size_t(i)] != float(ranksSum * double(i % 1000 + 1));
  check(bad == 0, "device f32 sum: " + std::to_string(bad) + " wrong", r);
  double meanOffset = 0.5 * (n - 1) / 2.0; // mean of r * 0.5 over ranks
  bad = 0;
  for (int64_t i = 0; i < kD; ++i)
    bad += std::fabs(d[size_t(i)] - (meanOffset + double(i))) > 1e-12;
  check(bad == 0, "device f64 mean: " + std::to_string(bad) + " wrong", r);

  // Overlapped: two groups started on the communication stream after the
  // work queued on the default stream (the upload), then one wait.
  for (int64_t i = 0; i < kF; ++i)
    f[size_t(i)] = float((r + 1) * (i % 1000 + 1));
  checkOk(gpu.copyFromHost(*fb, 0, f.data(), f.size() * sizeof(float)),
          "upload f32 again", r);
  checkOk(c.waitDeviceAllReduces(nullptr, "nothing"), "wait for none", r);
  const int64_t half = kF / 2;
  checkOk(c.startAllReduceOnDevice({{fb->data(), half, ElementType::kF32}},
                                   /*mean=*/false, nullptr, "bucket 1/2"),
          "start bucket 1", r);
  checkOk(c.startAllReduceOnDevice({{static_cast<float *>(fb->data()) + half,
                                     kF - half, ElementType::kF32}},
                                   /*mean=*/true, nullptr, "bucket 2/2"),
          "start bucket 2", r);
  checkOk(c.waitDeviceAllReduces(nullptr, "the test buckets"),
          "wait for the overlapped buckets", r);
  checkOk(gpu.copyToHost(f.data(), *fb, 0, f.size() * sizeof(float)),
          "download overlapped f32", r);
  bad = 0;
  for (int64_t i = 0; i < kF; ++i) {
    double want = (i < half ? ranksSum : ranksSum / n) * double(i % 1000 + 1);
    bad += std::fabs(double(f[size_t(i)]) - want) > 1e-6 * want;
  }
  check(bad == 0,
        "overlapped device sum and mean: " + std::to_string(bad) + " wrong", r);

  // Host collectives go through the bootstrap (MPI or the thread group).
  double host[2] = {double(r), 1.0};
  checkOk(c.allReduce(host, 2, ElementType::kF64, ReduceOp::kSum, "host"),
          "host all-reduce", r);
  check(host[0] == n * (n - 1) / 2.0 && host[1] == n, "host sum values", r);
  checkOk(c.barrier("test"), "barrier", r);

  // Bad input is an error, not a crash, and leaves the communicator usable.
  Status wrongType = c.allReduceOnDevice({{fb->data(), 4, ElementType::kI64}},
                                         false, nullptr, "i64");
  check(wrongType.code() == StatusCode::kInvalidArgument,
        "i64 is refused: " + wrongType.toString(), r);

  // Device messages along the chain 0 -> 1 -> ... -> n-1 and back: rank k
  // receives the f32 and i64 tensors from k - 1, adds k + 1 / k, and sends
  // them on; the last rank sends the f32 one back down. Values are exact.
  {
    const int64_t kS = 3000, kI = 17;
    StatusOr<Buffer> sb = gpu.allocate(size_t(kS) * sizeof(float));
    StatusOr<Buffer> ib = gpu.allocate(size_t(kI) * sizeof(int64_t));
    if (!sb.isOk() || !ib.isOk())
      c.abort(1, "device allocation failed");
    std::vector<float> sv(size_t(kS), 0.0f);
    std::vector<int64_t> iv(size_t(kI), 0);
    std::vector<BucketTensor> msg = {{sb->data(), kS, ElementType::kF32},
                                     {ib->data(), kI, ElementType::kI64}};
    if (r > 0) {
      checkOk(c.recvOnDevice(msg, r - 1, nullptr, "the chain forward"),
              "device recv forward", r);
      checkOk(gpu.copyToHost(sv.data(), *sb, 0, sv.size() * sizeof(float)),
              "download f32", r);
      checkOk(gpu.copyToHost(iv.data(), *ib, 0, iv.size() * sizeof(int64_t)),
              "download i64", r);
      int wrong = 0;
      for (int64_t i = 0; i < kS; ++i)
        wrong += sv[size_t(i)] != float(r * (r + 1) / 2) + float(i);
      for (int64_t i = 0; i < kI; ++i)
        wrong += iv[size_t(i)] != int64_t(r - 1) * (r) / 2 * 1000 + i;
      check(wrong == 0,
            "device recv forward: " + std::to_string(wrong) + " wrong", r);
    } else {
      for (int64_t i = 0; i < kS; ++i)
        sv[size_t(i)] = float(i);
      for (int64_t i = 0; i < kI; ++i)
        iv[size_t(i)] = i;
    }
    for (float &x : sv)
      x += float(r + 1);
    for (int64_t &x : iv)
      x += int64_t(r) * 1000;
    checkOk(gpu.copyFromHost(*sb, 0, sv.data(), sv.size() * sizeof(float)),
            "upload f32", r);
    checkOk(gpu.copyFromHost(*ib, 0, iv.data(), iv.size() * sizeof(int64_t)),
            "upload i64", r);
    if (r + 1 < n) {
      checkOk(c.sendOnDevice(msg, r + 1, nullptr, "the chain forward"),
              "device send forward", r);
      // Backward: the f32 tensor of rank n-1, passed down unchanged.
      checkOk(c.recvOnDevice({msg[0]}, r + 1, nullptr, "the chain backward"),
              "device recv backward", r);
      checkOk(gpu.copyToHost(sv.data(), *sb, 0, sv.size() * sizeof(float)),
              "download f32", r);
    }
    if (r > 0)
      checkOk(c.sendOnDevice({msg[0]}, r - 1, nullptr, "the chain backward"),
              "device send backward", r);
    int wrong = 0;
    for (int64_t i = 0; i < kS; ++i)
      wrong += sv[size_t(i)] != float(n * (n + 1) / 2) + float(i);
    check(wrong == 0,
          "device recv backward: " + std::to_string(wrong) + " wrong", r);
    Status self = c.sendOnDevice(msg, r, nullptr, "to itself");
    check(self.code() == StatusCode::kInvalidArgument,
          "a device message to this rank itself is refused: " + self.toString(),
          r);
  }

  // The timeout: rank 1 does not join; rank 0 must fail within ~2 s.
  c.setTimeoutSeconds(2);
  if (r == 0) {
    auto t0 = std::chrono::steady_clock::now();
    Status s = c.allReduceOnDevice({{fb->data(), 1024, ElementType::kF32}},
                                   false, nullptr, "the abandoned tensor");
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    check(s.code() == StatusCode::kDeadlineExceeded,
          "a missing peer gives DeadlineExceeded: " + s.toString(), r);
    check(s.message().find("the abandoned tensor") != std::string::npos,
          "the timeout names the collective", r);
    check(secs < 30,
          "the timeout fires in time (" + std::to_string(secs) + " s)", r);
    Status again = c.allReduceOnDevice({{fb->data(), 4, ElementType::kF32}},
                                       false, nullptr, "after the failure");
    check(again.code() == StatusCode::kFailedPrecondition,
          "the aborted communicator refuses work: " + again.toString(), r);
    std::printf("rank 0: timeout after %.1f s: %s\n", secs,
                s.message().c_str());
  }
  c.setTimeoutSeconds(60);
  double verdict = failures.load();
  if (!c.allReduce(&verdict, 1, ElementType::kF64, ReduceOp::kSum, "verdict")
           .isOk())
    return 1;
  if (r == 0)
    std::printf("nccl communicator test on %d ranks%s: %s\n", n, mode,
                verdict == 0 ? "PASS" : "FAIL");
  return verdict == 0 ? 0 : 1;
}

} // namespace
