/** Loading the base model a workflow runs on, with the checks every workflow shares. */
import type { LinearLayer } from '@modularevo/core-tensor';
import { getLogger, loadConfig, MismatchError } from '@modularevo/core-tensor';

import type { Architecture, PretrainedModel } from '../architecture';

const log = getLogger('masking');

/** A base model and whether the workflow loaded it (and so must dispose it). */
export interface LoadedBaseModel {
  model: PretrainedModel;
  owned: boolean;
}

/**
 * Returns `model` when it is already loaded, else loads the folder with the architecture after
 * checking that its `config.json` names one of the architecture's `model_type` values.
 *
 * @throws CheckpointError when the folder, its config or its weights cannot be read
 * @throws MismatchError when the folder contains a model of another type
 */
export async function loadBaseModel(architecture: Architecture, model: string | PretrainedModel): Promise<LoadedBaseModel> {
  if (typeof model !== 'string') {
    checkModelType(architecture, model.configJson.model_type, 'The given model');
    return { model, owned: false };
  }

  checkModelType(architecture, loadConfig(model).model_type, model);
  const started = Date.now();
  const loaded = await architecture.load(model);
  log.info(`loaded ${architecture.name} model from ${model} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { model: loaded, owned: true };
}

function checkModelType(architecture: Architecture, modelType: unknown, subject: string): void {
  if (typeof modelType === 'string' && architecture.modelTypes.includes(modelType)) return;
  throw new MismatchError(
    `${subject} has model_type ${JSON.stringify(modelType)} in config.json, but architecture ${architecture.name} loads ${architecture.modelTypes.join(', ')}; ` +
      'pass the architecture of this model, or a model of this architecture',
  );
}

/**
 * Returns a test for names matched by a task-head pattern, anchored at the start as Python's
 * `re.match` anchors it (the pattern `.*classification.*` matches any name containing
 * "classification").
 */
export function taskHeadMatcher(pattern: string): (name: string) => boolean {
  const regex = new RegExp(`^(?:${pattern})`);
  return (name) => regex.test(name);
}

/** Returns the linear layers that carry masks: every layer whose weight is not a task-head parameter. */
export function maskableLayers(model: PretrainedModel, taskHeadPattern: string): LinearLayer[] {
  const isHead = taskHeadMatcher(taskHeadPattern);
  return model.linearLayers().filter((layer) => !isHead(layer.weight));
}
