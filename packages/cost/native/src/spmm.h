#pragma once
#include <cstdint>
#include <vector>

namespace modularevo {

// A sparse matrix W [rows, cols] in compressed sparse rows, validated once when it is prepared.
struct CsrMatrix {
  int rows = 0;
  int cols = 0;
  std::vector<int32_t> rowPtr;  // [rows + 1]
  std::vector<int32_t> colIdx;  // [nnz], ascending within a row
  // colIdx in 16 bits when cols <= 65536 in an AVX-512 build (then colIdx is empty): the product
  // streams every index and value once per call, from memory at model size, so narrower indices
  // cut its traffic.
  std::vector<uint16_t> colIdx16;
  std::vector<float> values;    // [nnz]
  // Row boundaries of the parallel tasks, multiples of the row group, chosen so each task has
  // about the same number of nonzeros.
  std::vector<int> taskRows;
};

// Moves colIdx to colIdx16 when every index fits 16 bits and the build has AVX-512.
void narrowIndices(CsrMatrix& w);

// Splits the rows of `w` into `tasks` ranges of about equal nonzero counts.
void planTasks(CsrMatrix& w, int tasks);

// Computes y [tokens, rows] = x [tokens, cols] W^T (+ bias [rows] when not null) on `threads`
// threads. x and y are row-major and must not overlap.
void spmm(const CsrMatrix& w, const float* x, int tokens, const float* bias, float* y, int threads);

}  // namespace modularevo
