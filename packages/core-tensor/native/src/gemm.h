#pragma once
#include <cstdint>

namespace modularevo {

// One batched product C[batch] = op(A[batch]) op(B[batch]), row-major, C contiguous [batch, m, n].
// aBatchOffsets / bBatchOffsets give each batch entry's first element (broadcast batches repeat).
struct GemmArgs {
  const float* a;
  const float* b;
  float* c;
  int batch, m, n, k;
  bool transposeA, transposeB;
  const int64_t* aBatchOffsets;
  const int64_t* bBatchOffsets;
};

void sgemmBatched(const GemmArgs& args, int threads);

}  // namespace modularevo
