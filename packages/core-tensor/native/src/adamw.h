#pragma once
#include <cstdint>

namespace modularevo {

// One AdamW update of n float32 values, as torch's single-tensor AdamW computes it in float32.
// The outputs may be the inputs of the same name (an update in place). multiplier and keep are
// null for a parameter without a gradient mask.
struct AdamWArgs {
  const float* parameter;
  const float* expAvg;
  const float* expAvgSq;
  const float* gradient;
  const float* multiplier;
  const uint8_t* keep;
  float* parameterOut;
  float* expAvgOut;
  float* expAvgSqOut;
  int64_t n;
  // float64 scalars: decay = 1 - lr * weight_decay, stepSize = lr / (1 - beta1^t),
  // biasCorrection2Sqrt = sqrt(1 - beta2^t)
  double decay, beta1, beta2, eps, stepSize, biasCorrection2Sqrt;
};

void adamwUpdate(const AdamWArgs& args);

}  // namespace modularevo
