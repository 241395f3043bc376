// Device code of the CUDA test artifact (CudaExecutableTest.cpp): compiled
// by nvcc into a fatbin and a PTX file at build time and embedded into the
// host objects built from cuda_test_host.c. Kernel order is the plan's
// target.kernels order (CudaTestArtifact.h).

extern "C" __global__ void gecko_test_vadd(const float *x, const float *y,
                                           float *z, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    z[i] = x[i] + y[i];
}

extern "C" __global__ void gecko_test_scale2(const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = 2.0f * x[i];
}

extern "C" __global__ void gecko_test_trap() { __trap(); }

extern "C" __global__ void gecko_test_addone(const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = x[i] + 1.0f;
}
