/**
 * The base-model identity that CodeT5 modules record and are checked against, and the
 * parameters mask-guided fine-tuning keeps frozen.
 */
import type { StateDict } from '@modularevo/core-tensor';
import { describeBaseModel, type BaseModel } from '@modularevo/masking';

import type { CodeT5PretrainedModel } from './pretrained-model';

/**
 * Parameters that mask-guided fine-tuning does not train. ModularEvo's CodeT5 fine-tuning
 * (`run_gen_module.py`) leaves the shared embedding, which the tied LM head reuses, out of the
 * optimizer, so a module's `lm_head.weight` mask shapes the module but never a gradient.
 */
export const CODET5_MODULE_FROZEN_PARAMETERS: readonly string[] = ['shared.weight'];

/**
 * Describes a loaded CodeT5 model for module files: its `config.json`, a hash over its
 * parameters, and the shape of every parameter and linear-layer weight (tied `lm_head.weight`
 * included). The hash covers the canonical names only, so `model.safetensors` and
 * `pytorch_model.bin` of the same weights agree.
 */
export function codeT5BaseModel(model: CodeT5PretrainedModel, state: StateDict = model.stateDict()): BaseModel {
  const base = describeBaseModel(model.configJson, state);
  for (const layer of model.linearLayers()) base.parameterShapes.set(layer.weight, [layer.outFeatures, layer.inFeatures]);
  return base;
}
