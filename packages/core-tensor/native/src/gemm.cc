// Single-precision GEMM, C = op(A) op(B) for row-major operands, where op transposes or not.
//
// The loop nest follows the BLIS layout: blocks of B (KC x NC) and A (MC x KC) are packed into
// panels that the micro-kernel reads contiguously, and the micro-kernel keeps an MR x NR tile of C
// in registers. The tile uses GCC vector extensions (16 floats per vector), so the compiler emits
// AVX-512, AVX2 or SSE code for the -march it builds for. The addon is built with -march=native on
// the machine that runs it. Transposed operands cost nothing extra because packing reads them by
// strides.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "gemm.h"

namespace {

typedef float v16 __attribute__((vector_size(64), aligned(4)));

constexpr int MR = 8;
constexpr int NR = 32;
constexpr int KC = 256;
constexpr int MC = 128;
constexpr int NC = 1024;

struct Matrix {
  const float* data;
  std::ptrdiff_t rowStride;
  std::ptrdiff_t colStride;
  float at(std::ptrdiff_t r, std::ptrdiff_t c) const { return data[r * rowStride + c * colStride]; }
};

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of A into panels of MR rows, column by column.
void packA(const Matrix& a, int i0, int mc, int p0, int kc, float* out) {
  for (int ir = 0; ir < mc; ir += MR) {
    const int rows = std::min(MR, mc - ir);
    for (int p = 0; p < kc; ++p) {
      for (int r = 0; r < rows; ++r) out[r] = a.at(i0 + ir + r, p0 + p);
      for (int r = rows; r < MR; ++r) out[r] = 0.0f;
      out += MR;
    }
  }
}

// Packs rows [p0, p0+kc) x cols [j0, j0+nc) of B into panels of NR columns, row by row.
void packB(const Matrix& b, int p0, int kc, int j0, int nc, float* out) {
  for (int jr = 0; jr < nc; jr += NR) {
    const int cols = std::min(NR, nc - jr);
    for (int p = 0; p < kc; ++p) {
      if (b.colStride == 1 && cols == NR) {
        std::memcpy(out, b.data + (p0 + p) * b.rowStride + (j0 + jr), NR * sizeof(float));
      } else {
        for (int c = 0; c < cols; ++c) out[c] = b.at(p0 + p, j0 + jr + c);
        for (int c = cols; c < NR; ++c) out[c] = 0.0f;
      }
      out += NR;
    }
  }
}

// Computes C[MR x NR] = Ap^T Bp over kc steps (adds to C when accumulate is set). Writes only the
// first m rows and n columns, so edge tiles of C are not overrun.
void microKernel(int kc, const float* ap, const float* bp, float* c, std::ptrdiff_t ldc, int m, int n,
                 bool accumulate) {
  v16 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = v16{};
  for (int p = 0; p < kc; ++p) {
    const v16 b0 = *reinterpret_cast<const v16*>(bp);
    const v16 b1 = *reinterpret_cast<const v16*>(bp + 16);
    for (int r = 0; r < MR; ++r) {
      const float a = ap[r];
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
    ap += MR;
    bp += NR;
  }
  if (m == MR && n == NR) {
    for (int r = 0; r < MR; ++r) {
      v16* row = reinterpret_cast<v16*>(c + r * ldc);
      if (accumulate) {
        row[0] += acc[r][0];
        row[1] += acc[r][1];
      } else {
        row[0] = acc[r][0];
        row[1] = acc[r][1];
      }
    }
    return;
  }
  alignas(64) float tile[MR][NR];
  for (int r = 0; r < MR; ++r) {
    *reinterpret_cast<v16*>(&tile[r][0]) = acc[r][0];
    *reinterpret_cast<v16*>(&tile[r][16]) = acc[r][1];
  }
  for (int r = 0; r < m; ++r)
    for (int col = 0; col < n; ++col) c[r * ldc + col] = (accumulate ? c[r * ldc + col] : 0.0f) + tile[r][col];
}

// Packing buffers of one thread, allocated once per call and left uninitialised (packing writes
// every element it reads back).
struct PackBuffers {
  std::unique_ptr<float[]> a{new float[static_cast<size_t>(MC) * KC]};
  std::unique_ptr<float[]> b{new float[static_cast<size_t>(NC) * KC]};
};

// Computes columns [jBegin, jEnd) of C[m x n] = op(A) op(B) on the calling thread.
void gemmColumns(const Matrix& a, const Matrix& b, float* c, std::ptrdiff_t ldc, int m, int k, int jBegin, int jEnd,
                 PackBuffers& buffers) {
  float* packedA = buffers.a.get();
  float* packedB = buffers.b.get();
  if (k == 0) {
    for (int i = 0; i < m; ++i) std::fill(c + i * ldc + jBegin, c + i * ldc + jEnd, 0.0f);
    return;
  }
  for (int j0 = jBegin; j0 < jEnd; j0 += NC) {
    const int nc = std::min(NC, jEnd - j0);
    for (int p0 = 0; p0 < k; p0 += KC) {
      const int kc = std::min(KC, k - p0);
      packB(b, p0, kc, j0, nc, packedB);
      for (int i0 = 0; i0 < m; i0 += MC) {
        const int mc = std::min(MC, m - i0);
        packA(a, i0, mc, p0, kc, packedA);
        for (int jr = 0; jr < nc; jr += NR) {
          for (int ir = 0; ir < mc; ir += MR) {
            microKernel(kc, packedA + ir * kc, packedB + jr * kc, c + (i0 + ir) * ldc + j0 + jr, ldc,
                        std::min(MR, mc - ir), std::min(NR, nc - jr), p0 > 0);
          }
        }
      }
    }
  }
}

}  // namespace

namespace modularevo {

void sgemmBatched(const GemmArgs& args, int threads) {
  const auto run = [&](int batchBegin, int batchEnd, int jBegin, int jEnd) {
    PackBuffers buffers;
    for (int batch = batchBegin; batch < batchEnd; ++batch) {
      const Matrix a{args.a + args.aBatchOffsets[batch], args.transposeA ? 1 : args.k, args.transposeA ? args.m : 1};
      const Matrix b{args.b + args.bBatchOffsets[batch], args.transposeB ? 1 : args.n, args.transposeB ? args.k : 1};
      gemmColumns(a, b, args.c + static_cast<std::ptrdiff_t>(batch) * args.m * args.n, args.n, args.m, args.k, jBegin, jEnd,
                  buffers);
    }
  };
  // a thread costs tens of microseconds to start: give each at least about 2 MFLOP of work
  const double flops = 2.0 * args.batch * args.m * args.n * args.k;
  threads = static_cast<int>(std::min<double>(threads, flops / 2e6));
  if (threads <= 1) {
    run(0, args.batch, 0, args.n);
    return;
  }
  std::vector<std::thread> workers;
  if (args.batch >= threads) {
    // attention: whole batch entries per thread
    for (int t = 0; t < threads; ++t) {
      const int begin = args.batch * t / threads, end = args.batch * (t + 1) / threads;
      workers.emplace_back(run, begin, end, 0, args.n);
    }
  } else {
    // one product: column ranges per thread, in multiples of the register tile
    const int tiles = (args.n + NR - 1) / NR;
    for (int t = 0; t < threads; ++t) {
      const int begin = std::min(args.n, tiles * t / threads * NR), end = std::min(args.n, tiles * (t + 1) / threads * NR);
      if (begin < end) workers.emplace_back(run, 0, args.batch, begin, end);
    }
  }
  for (auto& worker : workers) worker.join();
}

}  // namespace modularevo
