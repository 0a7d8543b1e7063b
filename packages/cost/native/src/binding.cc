// Node-API entry points of the sparse kernels:
//   prepare(rowPtr: Int32Array, colIdx: Int32Array, values: Float32Array, cols: number) -> handle
//     validates and copies a CSR matrix once, so every later product can trust its indices;
//   spmm(handle, x: Float32Array, tokens: number, bias: Float32Array | null, y: Float32Array,
//        threads: number) computes y [tokens, rows] = x [tokens, cols] W^T + bias;
//   instructionSet() names the vector instructions the addon was compiled for.
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "spmm.h"
#include "thread-pool.h"

namespace {

constexpr int TASKS_PER_MATRIX = 8;

bool check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return true;
  napi_throw_error(env, nullptr, what);
  return false;
}

template <typename T>
bool typedArray(napi_env env, napi_value value, napi_typedarray_type expected, const char* what, T** data, size_t* length) {
  napi_typedarray_type type;
  void* raw = nullptr;
  bool isTyped = false;
  napi_is_typedarray(env, value, &isTyped);
  if (!isTyped || napi_get_typedarray_info(env, value, &type, length, &raw, nullptr, nullptr) != napi_ok || type != expected) {
    napi_throw_type_error(env, nullptr, what);
    return false;
  }
  *data = static_cast<T*>(raw);
  return true;
}

void finalizeMatrix(napi_env, void* data, void*) { delete static_cast<modularevo::CsrMatrix*>(data); }

napi_value Prepare(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "bad call")) return nullptr;
  if (argc != 4) {
    napi_throw_type_error(env, nullptr, "prepare expects 4 arguments");
    return nullptr;
  }

  int32_t* rowPtr;
  int32_t* colIdx;
  float* values;
  size_t rowPtrLength, colLength, valueLength;
  int64_t cols;
  if (!typedArray(env, argv[0], napi_int32_array, "rowPtr must be an Int32Array", &rowPtr, &rowPtrLength) ||
      !typedArray(env, argv[1], napi_int32_array, "colIdx must be an Int32Array", &colIdx, &colLength) ||
      !typedArray(env, argv[2], napi_float32_array, "values must be a Float32Array", &values, &valueLength) ||
      !check(env, napi_get_value_int64(env, argv[3], &cols), "cols must be an integer"))
    return nullptr;

  // the product reads xt[colIdx[k]] for rowPtr[r] <= k < rowPtr[r + 1]: every index must be in range
  if (rowPtrLength < 1 || rowPtr[0] != 0 || colLength != valueLength ||
      static_cast<size_t>(rowPtr[rowPtrLength - 1]) != colLength || cols < 0 || cols > INT32_MAX) {
    napi_throw_range_error(env, nullptr, "invalid CSR matrix: rowPtr must start at 0 and end at the number of nonzeros");
    return nullptr;
  }
  for (size_t r = 0; r + 1 < rowPtrLength; ++r) {
    if (rowPtr[r + 1] < rowPtr[r]) {
      napi_throw_range_error(env, nullptr, "invalid CSR matrix: rowPtr must not decrease");
      return nullptr;
    }
  }
  for (size_t k = 0; k < colLength; ++k) {
    if (colIdx[k] < 0 || colIdx[k] >= cols) {
      napi_throw_range_error(env, nullptr, "invalid CSR matrix: a column index is outside [0, cols)");
      return nullptr;
    }
  }

  auto* matrix = new modularevo::CsrMatrix();
  matrix->rows = static_cast<int>(rowPtrLength - 1);
  matrix->cols = static_cast<int>(cols);
  matrix->rowPtr.assign(rowPtr, rowPtr + rowPtrLength);
  matrix->colIdx.assign(colIdx, colIdx + colLength);
  matrix->values.assign(values, values + valueLength);
  modularevo::narrowIndices(*matrix);
  modularevo::planTasks(*matrix, TASKS_PER_MATRIX);

  napi_value handle;
  if (!check(env, napi_create_external(env, matrix, finalizeMatrix, nullptr, &handle), "could not create the matrix handle")) {
    delete matrix;
    return nullptr;
  }
  return handle;
}

napi_value Spmm(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "bad call")) return nullptr;
  if (argc != 6) {
    napi_throw_type_error(env, nullptr, "spmm expects 6 arguments");
    return nullptr;
  }

  napi_valuetype handleType;
  void* raw = nullptr;
  if (napi_typeof(env, argv[0], &handleType) != napi_ok || handleType != napi_external ||
      napi_get_value_external(env, argv[0], &raw) != napi_ok) {
    napi_throw_type_error(env, nullptr, "spmm expects a matrix handle from prepare()");
    return nullptr;
  }
  const auto& matrix = *static_cast<const modularevo::CsrMatrix*>(raw);

  float* x;
  float* y;
  const float* bias = nullptr;
  size_t xLength, yLength;
  int64_t tokens, threads;
  if (!typedArray(env, argv[1], napi_float32_array, "x must be a Float32Array", &x, &xLength) ||
      !check(env, napi_get_value_int64(env, argv[2], &tokens), "tokens must be an integer") ||
      !typedArray(env, argv[4], napi_float32_array, "y must be a Float32Array", &y, &yLength) ||
      !check(env, napi_get_value_int64(env, argv[5], &threads), "threads must be an integer"))
    return nullptr;

  napi_valuetype biasType;
  napi_typeof(env, argv[3], &biasType);
  if (biasType != napi_null && biasType != napi_undefined) {
    float* biasData;
    size_t biasLength;
    if (!typedArray(env, argv[3], napi_float32_array, "bias must be a Float32Array or null", &biasData, &biasLength)) return nullptr;
    if (biasLength != static_cast<size_t>(matrix.rows)) {
      napi_throw_range_error(env, nullptr, "bias length must equal the number of rows");
      return nullptr;
    }
    bias = biasData;
  }

  if (tokens < 0 || static_cast<size_t>(tokens) * matrix.cols != xLength || static_cast<size_t>(tokens) * matrix.rows != yLength) {
    napi_throw_range_error(env, nullptr, "x must hold tokens * cols and y tokens * rows floats");
    return nullptr;
  }
  modularevo::spmm(matrix, x, static_cast<int>(tokens), bias, y, static_cast<int>(std::max<int64_t>(1, threads)));
  return nullptr;
}

napi_value InstructionSet(napi_env env, napi_callback_info) {
#if defined(__AVX512F__)
  const char* name = "AVX-512";
#elif defined(__AVX2__)
  const char* name = "AVX2";
#elif defined(__AVX__)
  const char* name = "AVX";
#elif defined(__SSE2__)
  const char* name = "SSE2";
#elif defined(__ARM_NEON)
  const char* name = "NEON";
#else
  const char* name = "scalar";
#endif
  napi_value result;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result);
  return result;
}

void cleanup(void*) { modularevo::stopThreadPool(); }

napi_value Init(napi_env env, napi_value exports) {
  const std::pair<const char*, napi_callback> functions[] = {
      {"prepare", Prepare}, {"spmm", Spmm}, {"instructionSet", InstructionSet}};
  for (const auto& [name, callback] : functions) {
    napi_value fn;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &fn);
    napi_set_named_property(env, exports, name, fn);
  }
  napi_add_env_cleanup_hook(env, cleanup, nullptr);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
