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
// With AVX-512 the inner loop runs several output rows side by side, 4 when a block has at most 4
// vectors of tokens and else 3. The loads of xt from L2 limit the loop, and independent rows keep
// more of them in flight. Both transposes then use 16 x 16 register tiles, and the transpose of x
// is also split over column ranges, so a single block of 128 tokens still runs on every thread.
// Column indices take 16 bits when the layer has at most 65536 inputs, because at model size every
// call streams its indices and values from memory. The outputs match the previous kernel bit for
// bit. On 2 cores of an AMD EPYC (Zen 4), one layer of GPT-Neo-125M's shapes ran 1.19x to 1.43x
// faster at 128 tokens and 1.16x to 1.28x at 1024 (bench/results.md). Built
// for AVX2 and run on that CPU, several rows side by side measured 0.82x to 0.92x, so other
// instruction sets keep one row at a time and 32-bit indices.
// TODO: those AVX2 figures predate the native-width row kernel below, which made the AVX2 build
// 20 times faster. Rows side by side and 16-bit indices may pay off there now.
//
// The vectors use GCC vector extensions, so the compiler emits AVX-512, AVX2 or SSE code for the
// -march it builds for. The addon is built with -march=native on the machine that runs it.
// AVX-512 builds use 16 floats per vector, other builds the native width (see rowKernel).
#include "spmm.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "thread-pool.h"
#include "transpose16.h"

namespace modularevo {
namespace {

// NOTE: only AVX-512 builds compute with this type, because GCC 12 lowers it for AVX2 through the
// stack. Built with -march=haswell, the row kernel took 18 ns per 16-wide FMA on one thread of an
// AMD EPYC (Zen 4), against 0.6 ns for the AVX-512 build, on a [768, 3072] layer at 25% density
// and 128 tokens. With native-width vectors (see rowKernel) the AVX2 build takes 0.9 ns. Both AVX2
// figures come from that AVX-512 CPU, not from an AVX2-only one.
typedef float v16 __attribute__((vector_size(64), aligned(4)));

constexpr int VEC = 16;                  // floats per vector
constexpr int MAX_VECTORS = 8;           // vectors of accumulators per output row
constexpr int BLOCK = VEC * MAX_VECTORS;  // tokens per block
constexpr int GROUP = 16;                // rows per output tile, one 16 x 16 transpose wide
constexpr int MAX_ROWS_AT_ONCE = 4;
constexpr int PREFETCH = 8;              // nonzeros ahead whose xt row is prefetched
constexpr int TRANSPOSE_COLUMNS = 256;   // columns of x per transpose task, a multiple of 16
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

#if defined(__AVX512F__)
// Computes one output row over V vectors of tokens: out[0 .. 16V) = sum_k values[k] * xt[cols[k]].
template <typename Index, int V>
void rowKernel(const Index* cols, const float* values, int nnz, const float* xt, std::ptrdiff_t ldx, float* out) {
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
#else
// Without AVX-512, GCC broadcasts each weight to the 16-float type with 16 scalar stores and moves
// every accumulator through the stack in 8-byte pieces. Vectors of the native width compile to one
// broadcast and one FMA per vector, and a cap on the accumulators keeps them in the 16 vector
// registers of x86-64.
#if defined(__AVX__)
typedef float vnative __attribute__((vector_size(32), aligned(4)));
#else
typedef float vnative __attribute__((vector_size(16), aligned(4)));
#endif
constexpr int NATIVE_WIDTH = sizeof(vnative) / sizeof(float);  // floats per native vector
// 12 and 8 measured the same. 16 leaves no register for the weight and spills an accumulator.
constexpr int MAX_ACCUMULATORS = 12;

// Computes one output row over V vectors of tokens: out[0 .. 16V) = sum_k values[k] * xt[cols[k]].
// When the row needs more than MAX_ACCUMULATORS native vectors, two passes over the nonzeros each
// compute half of the tokens.
template <typename Index, int V>
void rowKernel(const Index* cols, const float* values, int nnz, const float* xt, std::ptrdiff_t ldx, float* out) {
  constexpr int ACCUMULATORS = V * VEC / NATIVE_WIDTH;
  if constexpr (ACCUMULATORS > MAX_ACCUMULATORS) {
    constexpr int FIRST = V / 2;
    rowKernel<Index, FIRST>(cols, values, nnz, xt, ldx, out);
    rowKernel<Index, V - FIRST>(cols, values, nnz, xt + FIRST * VEC, ldx, out + FIRST * VEC);
  } else {
    vnative acc[ACCUMULATORS];
    for (int j = 0; j < ACCUMULATORS; ++j) acc[j] = vnative{};
    for (int k = 0; k < nnz; ++k) {
      if (k + PREFETCH < nnz) __builtin_prefetch(xt + cols[k + PREFETCH] * ldx);
      const float* row = xt + cols[k] * ldx;
      const float value = values[k];
      for (int j = 0; j < ACCUMULATORS; ++j) acc[j] += value * *reinterpret_cast<const vnative*>(row + j * NATIVE_WIDTH);
    }
    for (int j = 0; j < ACCUMULATORS; ++j) *reinterpret_cast<vnative*>(out + j * NATIVE_WIDTH) = acc[j];
  }
}
#endif

// Computes R output rows over V vectors of tokens: out[r][0 .. 16V) = sum_k values[r][k] * xt[cols[r][k]].
// The rows advance together while all have nonzeros left, then each finishes alone. One row goes
// to rowKernel, because this loop with R = 1 measured 0.86x to 0.94x of it in an AVX2 build.
template <typename Index, int V, int R>
void rowsKernel(const Index* const* cols, const float* const* values, const int* nnz, const float* xt, std::ptrdiff_t ldx, float* const* out) {
  if constexpr (R == 1) {
    rowKernel<Index, V>(cols[0], values[0], nnz[0], xt, ldx, out[0]);
    return;
  }

  v16 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < V; ++j) acc[r][j] = v16{};

  int shared = nnz[0];
  for (int r = 1; r < R; ++r) shared = std::min(shared, nnz[r]);
  for (int k = 0; k < shared; ++k) {
    for (int r = 0; r < R; ++r) {
      if (k + PREFETCH < shared) __builtin_prefetch(xt + cols[r][k + PREFETCH] * ldx);
      const float* row = xt + cols[r][k] * ldx;
      const float value = values[r][k];
      for (int j = 0; j < V; ++j) acc[r][j] += value * *reinterpret_cast<const v16*>(row + j * VEC);
    }
  }

  for (int r = 0; r < R; ++r) {
    for (int k = shared; k < nnz[r]; ++k) {
      if (k + PREFETCH < nnz[r]) __builtin_prefetch(xt + cols[r][k + PREFETCH] * ldx);
      const float* row = xt + cols[r][k] * ldx;
      const float value = values[r][k];
      for (int j = 0; j < V; ++j) acc[r][j] += value * *reinterpret_cast<const v16*>(row + j * VEC);
    }
    for (int j = 0; j < V; ++j) *reinterpret_cast<v16*>(out[r] + j * VEC) = acc[r][j];
  }
}

// Rows side by side for V vectors of tokens. With AVX-512's 32 vector registers, 4 rows of up to
// 4 vectors or 3 rows of up to 8 hold their accumulators in registers; 4 rows of 8 measured 0.7x.
#if defined(__AVX512F__)
constexpr int ROWS_FEW_VECTORS = 4;
constexpr int ROWS_MANY_VECTORS = 3;
#else
constexpr int ROWS_FEW_VECTORS = 1;
constexpr int ROWS_MANY_VECTORS = 1;
#endif
constexpr int ROWS_AT_ONCE[MAX_VECTORS + 1] = {1, ROWS_FEW_VECTORS, ROWS_FEW_VECTORS, ROWS_FEW_VECTORS, ROWS_FEW_VECTORS,
                                               ROWS_MANY_VECTORS, ROWS_MANY_VECTORS, ROWS_MANY_VECTORS, ROWS_MANY_VECTORS};

template <typename Index>
using RowsKernel = void (*)(const Index* const*, const float* const*, const int*, const float*, std::ptrdiff_t, float* const*);

// The kernel of `count` rows (ROWS_AT_ONCE[vectors] or 1) over `vectors` vectors of tokens.
template <typename Index, int V>
RowsKernel<Index> rowsKernelOf(int count) {
  return count == 1 ? rowsKernel<Index, V, 1> : rowsKernel<Index, V, ROWS_AT_ONCE[V]>;
}

template <typename Index>
RowsKernel<Index> rowsKernelOf(int vectors, int count) {
  constexpr RowsKernel<Index> (*byVectors[MAX_VECTORS + 1])(int) = {
      nullptr,
      rowsKernelOf<Index, 1>, rowsKernelOf<Index, 2>, rowsKernelOf<Index, 3>, rowsKernelOf<Index, 4>,
      rowsKernelOf<Index, 5>, rowsKernelOf<Index, 6>, rowsKernelOf<Index, 7>, rowsKernelOf<Index, 8>};
  return byVectors[vectors](count);
}

// Transposes columns [c0, c1) of the tokens of block `block` of x [tokens, cols] into that block's
// part of xt, [cols, width]. Tokens past the end are zero, so the last block's vectors read zeros
// there.
void transposeBlock(const float* x, int tokens, int cols, int block, int width, int c0, int c1, float* xt) {
  const int t0 = block * width;
  const int t1 = std::min(tokens, t0 + width);
  for (int cb = c0; cb < c1; cb += 16) {
    const int ce = std::min(c1, cb + 16);
    int t = t0;
    if (HAS_TILE_TRANSPOSE && ce - cb == 16) {
      for (; t + 16 <= t1; t += 16) {
        transposeTile16(x + static_cast<std::ptrdiff_t>(t) * cols + cb, cols, xt + static_cast<std::ptrdiff_t>(cb) * width + (t - t0), width, nullptr);
      }
    }
    for (int c = cb; c < ce; ++c) {
      float* row = xt + static_cast<std::ptrdiff_t>(c) * width;
      for (int tt = t; tt < t1; ++tt) row[tt - t0] = x[static_cast<std::ptrdiff_t>(tt) * cols + c];
      std::fill(row + (t1 - t0), row + width, 0.0f);
    }
  }
}

// Computes rows [r0, r1) of y for every token block, reading the column indices `colIdx`.
template <typename Index>
void rowRange(const CsrMatrix& w, const Index* colIdx, const float* xt, int tokens, int width, const float* bias, float* y, int r0, int r1) {
  alignas(64) float tile[GROUP][BLOCK];
  alignas(64) static const float noBias[GROUP] = {};
  for (int t0 = 0; t0 < tokens; t0 += width) {
    const int blockTokens = std::min(width, tokens - t0);
    const int vectors = (blockTokens + VEC - 1) / VEC;
    const int together = ROWS_AT_ONCE[vectors];
    const float* block = xt + static_cast<std::ptrdiff_t>(t0) * w.cols;  // [cols, width]
    for (int g0 = r0; g0 < r1; g0 += GROUP) {
      const int groupRows = std::min(GROUP, r1 - g0);
      for (int r = 0; r < groupRows;) {
        const int count = r + together <= groupRows ? together : 1;
        const Index* cols[MAX_ROWS_AT_ONCE];
        const float* values[MAX_ROWS_AT_ONCE];
        int nnz[MAX_ROWS_AT_ONCE];
        float* out[MAX_ROWS_AT_ONCE];
        for (int q = 0; q < count; ++q) {
          const int begin = w.rowPtr[g0 + r + q];
          cols[q] = colIdx + begin;
          values[q] = w.values.data() + begin;
          nnz[q] = w.rowPtr[g0 + r + q + 1] - begin;
          out[q] = tile[r + q];
        }
        rowsKernelOf<Index>(vectors, count)(cols, values, nnz, block, width, out);
        r += count;
      }

      // tile [groupRows, blockTokens] -> y [t0 + t, g0 + r], one contiguous run of rows per token
      int t = 0;
      if (HAS_TILE_TRANSPOSE && groupRows == GROUP) {
        for (; t + 16 <= blockTokens; t += 16) {
          transposeTile16(&tile[0][t], BLOCK, y + static_cast<std::ptrdiff_t>(t0 + t) * w.rows + g0, w.rows, bias ? bias + g0 : noBias);
        }
      }
      for (; t < blockTokens; ++t) {
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

void narrowIndices(CsrMatrix& w) {
#if !defined(__AVX512F__)
  // measured only on AVX-512; an AVX2 build ran 0.94x to 1.06x with them, so it keeps 32 bits
  return;
#endif
  if (w.cols > 65536) return;
  w.colIdx16.assign(w.colIdx.begin(), w.colIdx.end());
  w.colIdx.clear();
  w.colIdx.shrink_to_fit();
}

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
  // column ranges too, so one block of 128 tokens still gives every thread a part
  const int ranges = (w.cols + TRANSPOSE_COLUMNS - 1) / TRANSPOSE_COLUMNS;
  parallelFor(blocks * ranges, threads, [&](int task) {
    const int block = task / ranges;
    const int c0 = (task % ranges) * TRANSPOSE_COLUMNS;
    const int c1 = std::min(w.cols, c0 + TRANSPOSE_COLUMNS);
    transposeBlock(x, tokens, w.cols, block, width, c0, c1, xt + static_cast<std::ptrdiff_t>(block) * w.cols * width);
  });

  const int tasks = static_cast<int>(w.taskRows.size()) - 1;
  parallelFor(tasks, threads, [&](int task) {
    if (!w.colIdx16.empty() || w.colIdx.empty()) {
      rowRange(w, w.colIdx16.data(), xt, tokens, width, bias, y, w.taskRows[task], w.taskRows[task + 1]);
    } else {
      rowRange(w, w.colIdx.data(), xt, tokens, width, bias, y, w.taskRows[task], w.taskRows[task + 1]);
    }
  });
}

}  // namespace modularevo
