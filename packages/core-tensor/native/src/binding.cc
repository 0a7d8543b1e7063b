// Node-API entry point: sgemm over float32 data inside one ArrayBuffer, which is the memory of
// the tfjs wasm backend, so products run on tensors in place without copying them out.
#include <node_api.h>

#include <cstdint>
#include <algorithm>
#include <string>
#include <vector>

#include "adamw.h"
#include "gemm.h"

namespace {

bool check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return true;
  napi_throw_error(env, nullptr, what);
  return false;
}

bool getInt(napi_env env, napi_value value, int64_t* out) {
  return check(env, napi_get_value_int64(env, value, out), "expected an integer argument");
}

// sgemm(memory, aByte, bByte, cByte, batch, m, n, k, transposeA, transposeB, aOffsets, bOffsets,
// threads) computes C[batch][m][n] = op(A) op(B). The byte offsets locate A, B and C in memory, and
// aOffsets / bOffsets (Uint32Array, length batch) give each batch entry's first element relative to
// A and B, so broadcast batches repeat an offset.
napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "bad call")) return nullptr;
  if (argc != 13) {
    napi_throw_type_error(env, nullptr, "sgemm expects 13 arguments");
    return nullptr;
  }

  void* memory = nullptr;
  size_t memoryBytes = 0;
  if (!check(env, napi_get_arraybuffer_info(env, argv[0], &memory, &memoryBytes), "memory must be an ArrayBuffer"))
    return nullptr;

  int64_t aByte, bByte, cByte, batch, m, n, k, threads;
  bool transposeA, transposeB;
  if (!getInt(env, argv[1], &aByte) || !getInt(env, argv[2], &bByte) || !getInt(env, argv[3], &cByte) ||
      !getInt(env, argv[4], &batch) || !getInt(env, argv[5], &m) || !getInt(env, argv[6], &n) ||
      !getInt(env, argv[7], &k) || !getInt(env, argv[12], &threads))
    return nullptr;
  if (!check(env, napi_get_value_bool(env, argv[8], &transposeA), "transposeA must be a boolean") ||
      !check(env, napi_get_value_bool(env, argv[9], &transposeB), "transposeB must be a boolean"))
    return nullptr;

  // batch offsets in elements, as Uint32Arrays of length batch
  std::vector<int64_t> offsets[2];
  for (int which = 0; which < 2; ++which) {
    napi_typedarray_type type;
    size_t length;
    void* data;
    if (!check(env, napi_get_typedarray_info(env, argv[10 + which], &type, &length, &data, nullptr, nullptr),
               "batch offsets must be Uint32Arrays"))
      return nullptr;
    if (type != napi_uint32_array || static_cast<int64_t>(length) != batch) {
      napi_throw_range_error(env, nullptr, "batch offsets must be Uint32Arrays of length batch");
      return nullptr;
    }
    const uint32_t* values = static_cast<const uint32_t*>(data);
    offsets[which].assign(values, values + length);
  }

  if (batch < 0 || m < 0 || n < 0 || k < 0) {
    napi_throw_range_error(env, nullptr, "sgemm sizes must not be negative");
    return nullptr;
  }

  // every element read or written must lie inside the buffer
  const int64_t elements = static_cast<int64_t>(memoryBytes / 4);
  auto fits = [&](int64_t byteOffset, int64_t extent) {
    return byteOffset >= 0 && byteOffset % 4 == 0 && byteOffset / 4 + extent <= elements;
  };
  int64_t aExtent = 0, bExtent = 0;
  for (int64_t i = 0; i < batch; ++i) {
    aExtent = std::max(aExtent, offsets[0][i] + m * k);
    bExtent = std::max(bExtent, offsets[1][i] + k * n);
  }
  if (!fits(aByte, aExtent) || !fits(bByte, bExtent) || !fits(cByte, batch * m * n)) {
    napi_throw_range_error(env, nullptr, "sgemm operands lie outside the memory buffer");
    return nullptr;
  }

  float* base = static_cast<float*>(memory);
  modularevo::GemmArgs args{base + aByte / 4, base + bByte / 4, base + cByte / 4,
                            static_cast<int>(batch), static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                            transposeA, transposeB, offsets[0].data(), offsets[1].data()};
  modularevo::sgemmBatched(args, static_cast<int>(threads));
  return nullptr;
}

// adamw(memory, parameter, expAvg, expAvgSq, gradient, multiplier, keep, parameterOut, expAvgOut,
// expAvgSqOut, n, scalars) runs one fused AdamW update of n values inside memory. The arguments
// after memory are byte offsets (multiplier and keep are -1 without a gradient mask), and scalars
// is a Float64Array [decay, beta1, beta2, eps, stepSize, biasCorrection2Sqrt].
napi_value Adamw(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "bad call")) return nullptr;
  if (argc != 12) {
    napi_throw_type_error(env, nullptr, "adamw expects 12 arguments");
    return nullptr;
  }

  void* memory = nullptr;
  size_t memoryBytes = 0;
  if (!check(env, napi_get_arraybuffer_info(env, argv[0], &memory, &memoryBytes), "memory must be an ArrayBuffer"))
    return nullptr;
  int64_t offsets[9], n;
  for (int i = 0; i < 9; ++i)
    if (!getInt(env, argv[1 + i], &offsets[i])) return nullptr;
  if (!getInt(env, argv[10], &n)) return nullptr;

  napi_typedarray_type type;
  size_t length;
  void* data;
  if (!check(env, napi_get_typedarray_info(env, argv[11], &type, &length, &data, nullptr, nullptr),
             "scalars must be a Float64Array"))
    return nullptr;
  if (type != napi_float64_array || length != 6) {
    napi_throw_range_error(env, nullptr, "scalars must be a Float64Array of length 6");
    return nullptr;
  }
  const double* scalars = static_cast<const double*>(data);

  // every array must lie inside the buffer; the mask arrays may be absent (-1)
  const int64_t bytes = static_cast<int64_t>(memoryBytes);
  auto fits = [&](int64_t offset, int64_t elementBytes) {
    return offset >= 0 && offset % elementBytes == 0 && n >= 0 && offset + n * elementBytes <= bytes;
  };
  const bool masked = offsets[4] >= 0 || offsets[5] >= 0;
  bool valid = fits(offsets[0], 4) && fits(offsets[1], 4) && fits(offsets[2], 4) && fits(offsets[3], 4) &&
               fits(offsets[6], 4) && fits(offsets[7], 4) && fits(offsets[8], 4);
  if (masked) valid = valid && fits(offsets[4], 4) && fits(offsets[5], 1);
  if (!valid) {
    napi_throw_range_error(env, nullptr, "adamw arrays lie outside the memory buffer");
    return nullptr;
  }

  char* base = static_cast<char*>(memory);
  auto floats = [&](int64_t offset) { return reinterpret_cast<float*>(base + offset); };
  modularevo::AdamWArgs args{floats(offsets[0]), floats(offsets[1]), floats(offsets[2]), floats(offsets[3]),
                             masked ? floats(offsets[4]) : nullptr,
                             masked ? reinterpret_cast<const uint8_t*>(base + offsets[5]) : nullptr,
                             floats(offsets[6]), floats(offsets[7]), floats(offsets[8]), n,
                             scalars[0], scalars[1], scalars[2], scalars[3], scalars[4], scalars[5]};
  modularevo::adamwUpdate(args);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sgemm", NAPI_AUTO_LENGTH, Sgemm, nullptr, &fn);
  napi_set_named_property(env, exports, "sgemm", fn);
  napi_create_function(env, "adamw", NAPI_AUTO_LENGTH, Adamw, nullptr, &fn);
  napi_set_named_property(env, exports, "adamw", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
