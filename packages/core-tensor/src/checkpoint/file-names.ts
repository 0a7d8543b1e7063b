/**
 * File names of a Hugging Face model folder, with the constant names `transformers` gives them
 * (`transformers.utils.SAFE_WEIGHTS_NAME` and so on).
 */

/** Single-file safetensors weights. */
export const SAFE_WEIGHTS_NAME = 'model.safetensors';

/** Index of sharded safetensors weights. */
export const SAFE_WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';

/** Single-file PyTorch weights (`torch.save` zip archive). */
export const WEIGHTS_NAME = 'pytorch_model.bin';

/** Index of sharded PyTorch weights. */
export const WEIGHTS_INDEX_NAME = 'pytorch_model.bin.index.json';

/** Model configuration. */
export const CONFIG_NAME = 'config.json';

/** Generation defaults (`generate` settings). */
export const GENERATION_CONFIG_NAME = 'generation_config.json';

/** Weight files in the order `from_pretrained` of transformers 4.36 prefers them. */
export const WEIGHT_FILES = [SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME] as const;

/** Returns the name of shard `index` (0-based) of `count`, as `save_pretrained` names it: `model-00001-of-00003.safetensors`. */
export function shardFileName(index: number, count: number, weightsName: string = SAFE_WEIGHTS_NAME): string {
  const suffix = `-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}`;
  const dot = weightsName.lastIndexOf('.');
  return `${weightsName.slice(0, dot)}${suffix}${weightsName.slice(dot)}`;
}

/** Matches shard file names such as `model-00001-of-00003.safetensors`. */
export const SAFE_SHARD_PATTERN = /^model-\d{5}-of-\d{5}\.safetensors$/;
