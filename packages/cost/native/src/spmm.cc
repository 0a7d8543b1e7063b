// Sparse-times-dense product y = x W^T for a CSR weight W, built for linear layers whose weights
// are mostly masked out.
//
// x is first transposed, one block of at most 128 tokens at a time, to xt [blocks, cols, width].
// One nonzero W[o, i] then multiplies the contiguous token row xt[block, i] with vector FMAs. The
// inner loop reads one scalar weight and up to 8 vectors of xt, and keeps the output row's
// accumulators in registers. Each block of xt is contiguous, so it stays in the L2 cache while the
// nonzeros gather from it. A plain [cols, tokens] layout puts its rows a power-of-two stride apart,
// which measured 2 to 4 times slower at 1024 tokens, probably from cache-set conflicts. Rows are
// computed in groups of 16 into a small tile that is then transposed into y, so y is written one
// cache line per token.
//
// The vectors use GCC vector extensions (16 floats), so the compiler emits AVX-512, AVX2 or SSE
// code for the -march it builds for; the addon is built with -march=native on the machine that
// runs it.
#include "spmm.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "thread-pool.h"

namespace modularevo {
namespace {

typedef float v16 __attribute__((vector_size(64), aligned(4)));

constexpr int VEC = 16;                  // floats per vector
constexpr int MAX_VECTORS = 8;           // vectors of accumulators per output row
constexpr int BLOCK = VEC * MAX_VECTORS;  // tokens per block
constexpr int GROUP = 16;                // rows per output tile
constexpr int PREFETCH = 8;              // nonzeros ahead whose xt row is prefetched
// NOTE: bytes of xt one token block may take, half of a 1 MiB L2 cache (AMD Zen 4). It was
// chosen by timing 512 KiB against 256 KiB and unlimited on that CPU under other load, where the
// differences were within the noise; other CPUs may prefer another value.
constexpr long L2_BUDGET = 512 * 1024;

struct AlignedDelete {
  void operator()(float* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<float[], AlignedDelete>;

AlignedBuffer alignedFloats(size_t count) {
  const size_t bytes = std::max<size_t>(64, (count * sizeof(float) + 63) / 64 * 64);
  return AlignedBuffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

// The xt buffer, kept between calls and grown when a call needs more. A fresh buffer of several
// MiB per call is mapped and unmapped by malloc each time, and its page faults cost about as much
// as a small product.
std::mutex scratchMutex;
AlignedBuffer scratch;
size_t scratchCapacity = 0;

float* scratchFloats(size_t count) {
  if (count > scratchCapacity) {
    scratch = alignedFloats(count);
    scratchCapacity = count;
  }
  return scratch.get();
}

// Computes one output row over V vectors of tokens: out[0 .. 16V) = sum_k values[k] * xt[cols[k]].
template <int V>
void rowKernel(const int32_t* cols, const float* values, int nnz, const float* xt, std::ptrdiff_t ldx, float* out) {
  v16 acc[V];
  for (int j = 0; j < V; ++j) acc[j] = v16{};
  for (int k = 0; k < nnz; ++k) {
    if (k + PREFETCH < nnz) __builtin_prefetch(xt + cols[k + PREFETCH] * ldx);
    const float* row = xt + cols[k] * ldx;
    const float value = values[k];
    for (int j = 0; j < V; ++j) acc[j] += value * *reinterpret_cast<const v16*>(row + j * VEC);
  }
  for (int j = 0; j < V; ++j) *reinterpret_cast<v16*>(out + j * VEC) = acc[j];
}

using RowKernel = void (*)(const int32_t*, const float*, int, const float*, std::ptrdiff_t, float*);
constexpr RowKernel ROW_KERNELS[MAX_VECTORS + 1] = {nullptr,        rowKernel<1>, rowKernel<2>, rowKernel<3>, rowKernel<4>,
                                                    rowKernel<5>, rowKernel<6>, rowKernel<7>, rowKernel<8>};

// Transposes the tokens of block `block` of x [tokens, cols] into that block's part of xt,
// [cols, width]. Tokens past the end are zero, so the last block's vectors read zeros there.
void transposeBlock(const float* x, int tokens, int cols, int block, int width, float* xt) {
  constexpr int TILE = 32;
  const int t0 = block * width;
  const int t1 = std::min(tokens, t0 + width);
  for (int cb = 0; cb < cols; cb += TILE) {
    const int ce = std::min(cols, cb + TILE);
    for (int c = cb; c < ce; ++c) {
      float* row = xt + static_cast<std::ptrdiff_t>(c) * width;
      for (int t = t0; t < t1; ++t) row[t - t0] = x[static_cast<std::ptrdiff_t>(t) * cols + c];
      std::fill(row + (t1 - t0), row + width, 0.0f);
    }
  }
}

// Computes rows [r0, r1) of y for every token block.
void rowRange(const CsrMatrix& w, const float* xt, int tokens, int width, const float* bias, float* y, int r0, int r1) {
  alignas(64) float tile[GROUP][BLOCK];
  for (int t0 = 0; t0 < tokens; t0 += width) {
    const int blockTokens = std::min(width, tokens - t0);
    const int vectors = (blockTokens + VEC - 1) / VEC;
    const RowKernel kernel = ROW_KERNELS[vectors];
    const float* block = xt + static_cast<std::ptrdiff_t>(t0) * w.cols;  // [cols, BLOCK]
    for (int g0 = r0; g0 < r1; g0 += GROUP) {
      const int groupRows = std::min(GROUP, r1 - g0);
      for (int r = 0; r < groupRows; ++r) {
        const int row = g0 + r;
        const int begin = w.rowPtr[row];
        kernel(w.colIdx.data() + begin, w.values.data() + begin, w.rowPtr[row + 1] - begin, block, width, tile[r]);
      }
      // tile [groupRows, blockTokens] -> y [t0 + t, g0 + r], one contiguous run of rows per token
      for (int t = 0; t < blockTokens; ++t) {
        float* out = y + static_cast<std::ptrdiff_t>(t0 + t) * w.rows + g0;
        for (int r = 0; r < groupRows; ++r) out[r] = tile[r][t] + (bias ? bias[g0 + r] : 0.0f);
      }
    }
  }
}

// Tokens per block: the largest number of vectors (up to 8) whose xt block fits L2_BUDGET.
int blockWidth(int cols, int tokens) {
  const long budget = L2_BUDGET;
  long vectors = budget / (std::max(cols, 1) * static_cast<long>(VEC * sizeof(float)));
  vectors = std::max(1L, std::min<long>(MAX_VECTORS, vectors));
  vectors = std::min<long>(vectors, (tokens + VEC - 1) / VEC);
  return static_cast<int>(vectors) * VEC;
}

}  // namespace

void planTasks(CsrMatrix& w, int tasks) {
  w.taskRows.assign(1, 0);
  const int64_t nnz = w.rowPtr[w.rows];
  int row = 0;
  for (int task = 1; task < tasks; ++task) {
    const int64_t target = nnz * task / tasks;
    while (row < w.rows && w.rowPtr[row] < target) row += GROUP;
    row = std::min(row, w.rows);
    if (row > w.taskRows.back()) w.taskRows.push_back(row);
  }
  if (w.taskRows.back() < w.rows) w.taskRows.push_back(w.rows);
}

void spmm(const CsrMatrix& w, const float* x, int tokens, const float* bias, float* y, int threads) {
  if (tokens == 0 || w.rows == 0) return;

  // xt [blocks, cols, width], 64-byte aligned so every vector load is aligned
  std::lock_guard<std::mutex> lock(scratchMutex);
  const int width = blockWidth(w.cols, tokens);
  const int blocks = (tokens + width - 1) / width;
  float* xt = scratchFloats(static_cast<size_t>(blocks) * w.cols * width);
  parallelFor(blocks, threads, [&](int block) {
    transposeBlock(x, tokens, w.cols, block, width, xt + static_cast<std::ptrdiff_t>(block) * w.cols * width);
  });

  const int tasks = static_cast<int>(w.taskRows.size()) - 1;
  parallelFor(tasks, threads, [&](int task) { rowRange(w, xt, tokens, width, bias, y, w.taskRows[task], w.taskRows[task + 1]); });
}

}  // namespace modularevo
