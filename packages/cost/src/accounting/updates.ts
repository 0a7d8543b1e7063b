/**
 * Parameters a fine-tune updated relative to its base model, per layer: the part of the model a
 * task vector carries. Mask-guided fine-tuning updates only entries its module keeps.
 */
import type { CheckpointReader, StateDict } from '@modularevo/core-tensor';
import { layerOf, parameterChangeReport, type Module } from '@modularevo/masking';

/** Updated entries out of all entries. */
export interface UpdateCount {
  updated: number;
  total: number;
  /** updated / total, 0 when there are no entries. */
  updatedFraction: number;
}

/** Entries a fine-tune changed, overall and per layer. */
export interface UpdateReport {
  overall: UpdateCount;
  /** One row per layer (weight and bias together), in base parameter order. */
  perLayer: ({ layer: string } & UpdateCount)[];
  /** Entries outside the module's masks that changed (0 after mask-guided fine-tuning); 0 without a module. */
  maskedOutUpdated: number;
  /** Base parameters the fine-tuned weights lack, left out of the counts. */
  missing: string[];
}

/**
 * Compares fine-tuned weights with their base bit for bit (via masking's `parameterChangeReport`)
 * and counts updated entries per layer. Parameters only the fine-tuned weights have (task heads)
 * are not counted. With `module`, also counts updates outside its masks.
 *
 * @throws MismatchError when a parameter has another shape or dtype in the two.
 */
export function fineTuneUpdates(base: StateDict | CheckpointReader, tuned: StateDict | CheckpointReader, module?: Module): UpdateReport {
  const report = parameterChangeReport(base, tuned, module);
  const layers = new Map<string, { updated: number; total: number }>();
  for (const change of report.perParameter) {
    const layer = layerOf(change.name);
    const bucket = layers.get(layer) ?? { updated: 0, total: 0 };
    bucket.updated += change.changed;
    bucket.total += change.total;
    layers.set(layer, bucket);
  }
  return {
    overall: updateCount(report.changed, report.total),
    perLayer: [...layers].map(([layer, { updated, total }]) => ({ layer, ...updateCount(updated, total) })),
    maskedOutUpdated: report.maskedOutChanged,
    missing: report.missing,
  };
}

function updateCount(updated: number, total: number): UpdateCount {
  return { updated, total, updatedFraction: total === 0 ? 0 : updated / total };
}
