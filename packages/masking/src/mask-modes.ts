/**
 * Masking modes: the choice of mask function in the forward pass and in the retention loss.
 * The modes are rows of one table, named after the original modularizer's options, so the CLI,
 * run configurations and code use the same words.
 */

/** `binary`: `weight * (score > 0)`; `hardtanh`: `weight * clamp(score, 0, 1)`. */
export type MaskForward = 'binary' | 'hardtanh';

/** `binary`: the loss term is the retention rate itself; `hardtanh`: `mean(clamp(score, 0, 1))`. */
export type RetentionLoss = 'binary' | 'hardtanh';

/** Named combinations of a forward mask and a retention loss. */
export type MaskingMode = 'binary' | 'non_bin_loss' | 'non_binary_forward';

/** Forward and loss settings of each masking mode. */
export const MASKING_MODES: Record<MaskingMode, { forward: MaskForward; retentionLoss: RetentionLoss }> = {
  // the default of the original modularizer
  binary: { forward: 'binary', retentionLoss: 'binary' },
  // the original modularizer's `--non_bin` flag
  non_bin_loss: { forward: 'binary', retentionLoss: 'hardtanh' },
  // masks built with `is_binary=False`: the forward pass itself uses clamped scores
  non_binary_forward: { forward: 'hardtanh', retentionLoss: 'hardtanh' },
};

/** Returns whether `name` is a masking mode. */
export function isMaskingMode(name: string): name is MaskingMode {
  return Object.prototype.hasOwnProperty.call(MASKING_MODES, name);
}
