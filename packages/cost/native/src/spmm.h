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
  std::vector<float> values;    // [nnz]
  // Row boundaries of the parallel tasks, multiples of the row group, chosen so each task has
  // about the same number of nonzeros.
  std::vector<int> taskRows;
};

// Splits the rows of `w` into `tasks` ranges of about equal nonzero counts.
void planTasks(CsrMatrix& w, int tasks);

// Computes y [tokens, rows] = x [tokens, cols] W^T (+ bias [rows] when not null) on `threads`
// threads. x and y are row-major and must not overlap.
void spmm(const CsrMatrix& w, const float* x, int tokens, const float* bias, float* y, int threads);

}  // namespace modularevo
