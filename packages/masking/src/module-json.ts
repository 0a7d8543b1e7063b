/** The `module.json` document of a module folder, and its validation on read. */
import { CheckpointError, formatShape } from '@modularevo/core-tensor';

/** `module.json` as written to disk (snake_case keys, as Hugging Face config files use). */
export interface ModuleJson {
  format: 'modularevo-module';
  format_version: 1;
  domain: string;
  /** retained_entries / total_entries. */
  weight_retention_rate: number;
  retained_entries: number;
  total_entries: number;
  /** Snapshot threshold in (0, 1), or null for a module saved at another point. */
  threshold: number | null;
  base_model: { weights_sha256: string; config: Record<string, unknown> };
  training: Record<string, unknown>;
  /** Measurements taken when the module was saved (losses on the domain's test split); absent when none were taken. */
  evaluation?: Record<string, unknown>;
  mask_file: string;
  mask_encoding: string;
  scores_file: string | null;
  /** Masked parameters in module order, with their unpacked shapes and kept-entry counts. */
  masked_parameters: { name: string; shape: number[]; retained: number }[];
}

/**
 * Parses and validates the text of `module.json`. Throws a CheckpointError naming `file` and the
 * first invalid field.
 */
export function parseModuleJson(file: string, text: string): ModuleJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(file, `is not valid JSON (${(error as Error).message})`);
  }
  const fail = (problem: string): never => {
    throw new CheckpointError(file, problem, 'Save the module again, or restore the file from the module folder');
  };
  if (!isObject(value)) return fail('is not a JSON object');
  const json = value as Record<string, unknown>;

  // format
  if (json.format !== 'modularevo-module') fail(`"format" is ${JSON.stringify(json.format)}, expected "modularevo-module"`);
  if (json.format_version !== 1) fail(`"format_version" ${JSON.stringify(json.format_version)} is not supported; this version reads 1`);
  if (json.mask_encoding !== 'bitpacked-u8-lsb-first') fail(`unknown "mask_encoding" ${JSON.stringify(json.mask_encoding)}`);

  // scalar fields
  if (typeof json.domain !== 'string' || json.domain === '') fail('"domain" must be a non-empty string');
  const rate = json.weight_retention_rate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) fail(`"weight_retention_rate" ${JSON.stringify(rate)} is not a number in [0, 1]`);
  const threshold = json.threshold;
  if (threshold !== null && !(typeof threshold === 'number' && threshold > 0 && threshold < 1)) {
    fail(`"threshold" ${JSON.stringify(threshold)} must be null or a number strictly between 0 and 1`);
  }
  if (!isObject(json.training)) fail('"training" must be an object');
  if (json.evaluation !== undefined && !isObject(json.evaluation)) fail('"evaluation" must be an object when present');

  // base model
  const base = json.base_model as Record<string, unknown> | undefined;
  if (!isObject(base)) return fail('"base_model" must be an object');
  if (typeof base.weights_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(base.weights_sha256)) {
    fail('"base_model.weights_sha256" must be 64 lower-case hex digits');
  }
  if (!isObject(base.config)) fail('"base_model.config" must be the base model\'s config.json object');

  // masked parameters
  if (!Array.isArray(json.masked_parameters) || json.masked_parameters.length === 0) {
    return fail('"masked_parameters" must be a non-empty list');
  }
  const seen = new Set<string>();
  json.masked_parameters.forEach((parameter: unknown, i: number) => {
    const where = `"masked_parameters[${i}]"`;
    if (!isObject(parameter)) return fail(`${where} must be an object`);
    const { name, shape, retained } = parameter as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') fail(`${where}.name must be a non-empty string`);
    if (seen.has(name as string)) fail(`${where} repeats parameter "${name}"`);
    seen.add(name as string);
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((size) => Number.isSafeInteger(size) && size > 0)) {
      fail(`${where}.shape ${JSON.stringify(shape)} must be a list of positive integers`);
    }
    const entries = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!(Number.isSafeInteger(retained) && (retained as number) >= 0 && (retained as number) <= entries)) {
      fail(`${where}.retained ${JSON.stringify(retained)} must be an integer from 0 to ${entries} for shape ${formatShape(shape as number[])}`);
    }
  });
  return json as unknown as ModuleJson;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
