// The fused AdamW update. binding.gyp compiles this file with -ffp-contract=off, so that no
// multiply and add are fused into one FMA: each operation rounds to float32 on its own, in the
// order of the composed tfjs ops (and of torch), and the results match them bit for bit. Blocks of
// 16 values are copied to local arrays first, so that the compiler vectorizes the arithmetic even
// though the outputs may alias the inputs. Vector division and square root round exactly as the
// scalar ones.
#include "adamw.h"

#include <algorithm>
#include <cmath>

namespace modularevo {

namespace {

constexpr int BLOCK = 16;

struct Constants {
  float decay, oneMinusBeta1, beta2, oneMinusBeta2, negativeStepSize, biasCorrection2Sqrt, eps;
};

// Updates values [start, start + count) with count <= BLOCK.
template <bool Masked, bool Decay>
void updateBlock(const AdamWArgs& args, const Constants& c, int64_t start, int count) {
  float p[BLOCK] = {}, g[BLOCK] = {}, m[BLOCK] = {}, v[BLOCK] = {}, multiplier[BLOCK] = {};
  bool keep[BLOCK] = {};
  for (int j = 0; j < count; ++j) {
    p[j] = args.parameter[start + j];
    g[j] = args.gradient[start + j];
    m[j] = args.expAvg[start + j];
    v[j] = args.expAvgSq[start + j];
    if (Masked) {
      multiplier[j] = args.multiplier[start + j];
      keep[j] = args.keep[start + j] != 0;
    }
  }

  float updated[BLOCK];
  for (int j = 0; j < BLOCK; ++j) {
    const float gradient = Masked ? g[j] * multiplier[j] : g[j];
    m[j] = m[j] + (gradient - m[j]) * c.oneMinusBeta1;
    v[j] = v[j] * c.beta2 + (gradient * c.oneMinusBeta2) * gradient;
    const float denominator = std::sqrt(v[j]) / c.biasCorrection2Sqrt + c.eps;
    const float decayed = Decay ? p[j] * c.decay : p[j];
    const float step = decayed + (m[j] * c.negativeStepSize) / denominator;
    updated[j] = Masked && !keep[j] ? p[j] : step;
  }

  for (int j = 0; j < count; ++j) {
    args.expAvgOut[start + j] = m[j];
    args.expAvgSqOut[start + j] = v[j];
    args.parameterOut[start + j] = updated[j];
  }
}

template <bool Masked, bool Decay>
void updateAll(const AdamWArgs& args, const Constants& c) {
  for (int64_t start = 0; start < args.n; start += BLOCK) {
    updateBlock<Masked, Decay>(args, c, start, static_cast<int>(std::min<int64_t>(BLOCK, args.n - start)));
  }
}

}  // namespace

void adamwUpdate(const AdamWArgs& args) {
  // torch applies Python floats to float32 tensors as float32 scalars
  const Constants c{static_cast<float>(args.decay),
                    static_cast<float>(1.0 - args.beta1),
                    static_cast<float>(args.beta2),
                    static_cast<float>(1.0 - args.beta2),
                    static_cast<float>(-args.stepSize),
                    static_cast<float>(args.biasCorrection2Sqrt),
                    static_cast<float>(args.eps)};
  const bool masked = args.multiplier != nullptr && args.keep != nullptr;
  const bool decay = args.decay != 1.0;
  if (masked) {
    decay ? updateAll<true, true>(args, c) : updateAll<true, false>(args, c);
  } else {
    decay ? updateAll<false, true>(args, c) : updateAll<false, false>(args, c);
  }
}

}  // namespace modularevo
