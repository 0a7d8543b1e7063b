/**
 * The module folder: `module.json` (base model identity, domain, retention rate, threshold,
 * training settings, masked parameters), `masks.safetensors` (one bit-packed U8 entry per masked
 * parameter under its Hugging Face name) and, optionally, `scores.safetensors` (raw F32 scores to
 * resume training). The package README documents the layout.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  CheckpointError,
  formatShape,
  getLogger,
  InvalidInputError,
  saveSafetensors,
  sameShape,
  SafetensorsFile,
  writeFolderAtomic,
  writeJsonAtomic,
  type StateDict,
} from '@modularevo/core-tensor';

import { checkParametersInBase, checkSameBaseModel, type BaseModel } from './base-model';
import { countRetained, packedLayoutProblem, type BinaryMask } from './bit-packing';
import { checkThreshold, retentionOf, type Module } from './module';
import { parseModuleJson, type ModuleJson } from './module-json';

export const MODULE_JSON = 'module.json';
export const MASKS_FILE = 'masks.safetensors';
export const SCORES_FILE = 'scores.safetensors';

/** Mask layout name: 8 entries per byte, least significant bit first, row-major. */
export const MASK_ENCODING = 'bitpacked-u8-lsb-first';

const log = getLogger('masking');

/** Options of `saveModule`. */
export interface SaveModuleOptions {
  /** Replaces an existing non-empty folder (default false). */
  overwrite?: boolean;
  /** Writes `scores.safetensors` when the module has scores (default true). */
  scores?: boolean;
}

/**
 * Writes `module` to folder `dir` atomically: everything is written to a temporary sibling
 * folder that is renamed into place, so a failure leaves no partial module. Throws an
 * InvalidInputError for a threshold outside (0, 1), an empty domain, a mask whose packed bytes
 * do not fit its shape, scores that do not match the masks, or an existing non-empty `dir`
 * without `overwrite`.
 */
export async function saveModule(dir: string, module: Module, options: SaveModuleOptions = {}): Promise<void> {
  // validate before anything touches the disk
  if (module.threshold !== undefined) checkThreshold(module.threshold);
  if (typeof module.domain !== 'string' || module.domain.trim() === '') {
    throw new InvalidInputError(`Invalid domain ${JSON.stringify(module.domain)}: name the corpus the module was learned on`);
  }
  if (module.masks.size === 0) throw new InvalidInputError('Cannot save a module without masks');
  for (const [name, mask] of module.masks) {
    const problem = packedLayoutProblem(mask);
    if (problem) throw new InvalidInputError(`Cannot save the mask of "${name}": ${problem}`);
  }
  const scores = options.scores === false ? undefined : module.scores;
  if (scores) checkScoresMatchMasks(scores, module.masks, (problem) => new InvalidInputError(`Cannot save the scores: ${problem}`));

  const json = buildModuleJson(module, scores !== undefined);

  await writeFolderAtomic(
    dir,
    (temporary) => {
      writeJsonAtomic(path.join(temporary, MODULE_JSON), json);
      saveSafetensors(path.join(temporary, MASKS_FILE), masksStateDict(module.masks), maskMetadata(module.masks));
      if (scores) saveSafetensors(path.join(temporary, SCORES_FILE), scores, { format: 'pt' });
    },
    { overwrite: options.overwrite },
  );
  log.info(
    `saved module "${module.domain}" to ${dir}: ${module.masks.size} masks, retention ${(json.weight_retention_rate * 100).toFixed(2)}%`,
  );
}

/** Options of `loadModule`. */
export interface LoadModuleOptions {
  /**
   * The base model the module will be applied to. When given, the weight hash must match and
   * every masked parameter must exist in it with the same shape.
   */
  base?: BaseModel;
  /** Reads `scores.safetensors` when the folder has one (default true). */
  scores?: boolean;
}

/**
 * Reads a module folder written by `saveModule`. Throws a CheckpointError naming the file when
 * a file is missing or malformed: a mask whose packed size does not fit its shape, masks that
 * disagree with `module.json`, or a corrupt safetensors file. Throws a MismatchError when
 * `options.base` is another model than the one the module was learned on.
 */
export function loadModule(dir: string, options: LoadModuleOptions = {}): Module {
  // module.json
  const jsonPath = path.join(dir, MODULE_JSON);
  if (!fs.existsSync(jsonPath)) {
    throw new CheckpointError(jsonPath, 'not found', `Pass a module folder (with ${MODULE_JSON} and ${MASKS_FILE}) written by the modularizer`);
  }
  const json = parseModuleJson(jsonPath, fs.readFileSync(jsonPath, 'utf8'));

  // base model
  const subject = `Module ${dir}`;
  if (options.base) {
    checkSameBaseModel(subject, { config: json.base_model.config, weightsSha256: json.base_model.weights_sha256 }, options.base);
    checkParametersInBase(subject, json.masked_parameters, options.base);
  }

  // masks
  const masks = readMasks(path.join(dir, MASKS_FILE), json);
  const { rate } = retentionOf(masks);
  if (Math.abs(rate - json.weight_retention_rate) > 1e-9) {
    throw new CheckpointError(
      jsonPath,
      `weight_retention_rate is ${json.weight_retention_rate} but the masks in ${MASKS_FILE} keep ${rate}`,
      'The folder mixes files of different modules; save the module again',
    );
  }

  // scores, when present and requested
  const scoresPath = path.join(dir, SCORES_FILE);
  let scores: StateDict | undefined;
  if (options.scores !== false && fs.existsSync(scoresPath)) scores = readScores(scoresPath, masks);

  return {
    domain: json.domain,
    baseModel: { config: json.base_model.config, weightsSha256: json.base_model.weights_sha256 },
    weightRetentionRate: rate,
    threshold: json.threshold ?? undefined,
    training: json.training,
    evaluation: json.evaluation,
    masks,
    scores,
  };
}

function buildModuleJson(module: Module, hasScores: boolean): ModuleJson {
  const { retained, total, rate } = retentionOf(module.masks);
  return {
    format: 'modularevo-module',
    format_version: 1,
    domain: module.domain,
    weight_retention_rate: rate,
    retained_entries: retained,
    total_entries: total,
    threshold: module.threshold ?? null,
    base_model: { weights_sha256: module.baseModel.weightsSha256, config: module.baseModel.config },
    training: module.training,
    ...(module.evaluation === undefined ? {} : { evaluation: module.evaluation }),
    mask_file: MASKS_FILE,
    mask_encoding: MASK_ENCODING,
    scores_file: hasScores ? SCORES_FILE : null,
    masked_parameters: [...module.masks].map(([name, mask]) => ({ name, shape: [...mask.shape], retained: countRetained(mask) })),
  };
}

function masksStateDict(masks: Map<string, BinaryMask>): StateDict {
  const state: StateDict = new Map();
  for (const [name, mask] of masks) state.set(name, { dtype: 'U8', shape: [mask.bits.length], data: mask.bits });
  return state;
}

// The unpacked shapes go into the safetensors metadata too, so the mask file can be decoded alone.
function maskMetadata(masks: Map<string, BinaryMask>): Record<string, string> {
  const shapes: Record<string, number[]> = {};
  for (const [name, mask] of masks) shapes[name] = mask.shape;
  return { format: 'modularevo-mask', mask_encoding: MASK_ENCODING, shapes: JSON.stringify(shapes) };
}

function readMasks(file: string, json: ModuleJson): Map<string, BinaryMask> {
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'not found', `A module folder needs ${MASKS_FILE} next to ${MODULE_JSON}`);
  const reader = SafetensorsFile.open(file);
  try {
    // the file must hold exactly the masks module.json lists
    const listed = new Set(json.masked_parameters.map((parameter) => parameter.name));
    const extra = reader.keys().filter((name) => !listed.has(name));
    if (extra.length > 0) {
      throw new CheckpointError(file, `contains a mask for "${extra[0]}" that ${MODULE_JSON} does not list`, 'The folder mixes files of different modules');
    }
    const metadataShapes = parseMetadataShapes(file, reader.metadata());

    const masks = new Map<string, BinaryMask>();
    for (const parameter of json.masked_parameters) {
      masks.set(parameter.name, readMask(file, reader, parameter, metadataShapes));
    }
    return masks;
  } finally {
    reader.close();
  }
}

function readMask(
  file: string,
  reader: SafetensorsFile,
  parameter: ModuleJson['masked_parameters'][number],
  metadataShapes: Record<string, unknown> | undefined,
): BinaryMask {
  const { name, shape } = parameter;
  if (!reader.has(name)) {
    throw new CheckpointError(file, `mask for "${name}" not found, but ${MODULE_JSON} lists it`, 'The folder mixes files of different modules');
  }
  const info = reader.info(name);
  if (info.dtype !== 'U8' || info.shape.length !== 1) {
    throw new CheckpointError(file, `mask "${name}" is ${info.dtype} ${formatShape(info.shape)}; masks are stored as bit-packed 1-D U8 tensors`);
  }
  const recorded = metadataShapes?.[name];
  if (metadataShapes && !(Array.isArray(recorded) && sameShape(recorded, shape))) {
    throw new CheckpointError(
      file,
      `metadata gives mask "${name}" the shape ${JSON.stringify(recorded)} but ${MODULE_JSON} gives ${formatShape(shape)}`,
    );
  }

  const mask: BinaryMask = { shape: [...shape], bits: reader.read(name).data as Uint8Array };
  const problem = packedLayoutProblem(mask);
  if (problem) throw new CheckpointError(file, `mask "${name}" is corrupt: ${problem}`);
  const retained = countRetained(mask);
  if (retained !== parameter.retained) {
    throw new CheckpointError(file, `mask "${name}" keeps ${retained} entries but ${MODULE_JSON} records ${parameter.retained}`, 'The mask file is corrupt or from another module');
  }
  return mask;
}

function parseMetadataShapes(file: string, metadata: Record<string, string>): Record<string, unknown> | undefined {
  if (metadata.mask_encoding !== undefined && metadata.mask_encoding !== MASK_ENCODING) {
    throw new CheckpointError(file, `unknown mask_encoding "${metadata.mask_encoding}"; this version reads "${MASK_ENCODING}"`);
  }
  if (metadata.shapes === undefined) return undefined;
  try {
    const shapes = JSON.parse(metadata.shapes);
    if (shapes !== null && typeof shapes === 'object' && !Array.isArray(shapes)) return shapes;
  } catch {
    // reported below
  }
  throw new CheckpointError(file, '"__metadata__.shapes" is not a JSON object of shapes');
}

function readScores(file: string, masks: Map<string, BinaryMask>): StateDict {
  const reader = SafetensorsFile.open(file);
  let scores: StateDict;
  try {
    scores = reader.readAll();
  } finally {
    reader.close();
  }
  checkScoresMatchMasks(scores, masks, (problem) => new CheckpointError(file, problem, 'Delete it to load the masks alone'));
  return scores;
}

function checkScoresMatchMasks(scores: StateDict, masks: Map<string, BinaryMask>, fail: (problem: string) => Error): void {
  for (const [name, tensor] of scores) {
    const mask = masks.get(name);
    if (!mask) throw fail(`scores for "${name}", which has no mask`);
    if (tensor.dtype !== 'F32') throw fail(`scores for "${name}" are ${tensor.dtype}; scores are F32`);
    if (!sameShape(tensor.shape, mask.shape)) {
      throw fail(`scores for "${name}" have shape ${formatShape(tensor.shape)} but its mask has shape ${formatShape(mask.shape)}`);
    }
  }
  for (const name of masks.keys()) {
    if (!scores.has(name)) throw fail(`no scores for "${name}"`);
  }
}
