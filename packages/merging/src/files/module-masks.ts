import * as fs from 'fs';
import * as nodePath from 'path';

import {
  CheckpointError,
  MismatchError,
  SafetensorsFile,
  formatShape,
  numel,
  toFloat32,
  type RawTensor,
} from '@modularevo/core-tensor';

import type { MaskSource } from '../steps/module-mask';

/** Mask file names looked for in a module folder, in this order. */
export const MASK_FILE_NAMES = ['masks.safetensors', 'module.safetensors', 'mask.safetensors'] as const;

/** An open mask file and the MaskSource that decodes its tensors on demand. */
export interface ModuleMaskFile {
  path: string;
  source: MaskSource;
  close(): void;
}

/**
 * Opens the masks of a module: a module folder (holding one of MASK_FILE_NAMES, or a single
 * `.safetensors` file) or a safetensors file. Masks are stored under the parameter names (or
 * `<name>_mask`) in one of these forms, decoded when the merge reads a parameter:
 * - bit-packed: U8 with `ceil(numel / 8)` bytes, 1 bit per entry, least significant bit first
 *   (`__metadata__` `bit_order: big` selects most significant bit first, as numpy.packbits);
 * - unpacked: U8 or BOOL with one 0/1 byte per entry, or float scores where `score > 0` keeps the entry.
 * Throws a CheckpointError when no mask file is found or it cannot be read.
 */
export function openModuleMasks(path: string): ModuleMaskFile {
  const file = findMaskFile(path);
  const reader = SafetensorsFile.open(file);
  const bigEndianBits = reader.metadata().bit_order === 'big';
  const source = (name: string, shape: readonly number[]): Uint8Array | undefined => {
    if (!reader.has(name)) return undefined;
    return decodeMask(reader.read(name), shape, bigEndianBits, `${file}: mask "${name}"`);
  };
  return { path: file, source, close: () => reader.close() };
}

/** Decodes a stored mask for a parameter of `shape` into one 0/1 byte per entry. */
export function decodeMask(tensor: RawTensor, shape: readonly number[], bigEndianBits: boolean, label: string): Uint8Array {
  const count = numel(shape);
  const stored = numel(tensor.shape);

  // one entry per parameter entry
  if (stored === count) {
    const mask = new Uint8Array(count);
    if (tensor.dtype === 'U8' || tensor.dtype === 'BOOL') {
      const bytes = tensor.data as Uint8Array;
      for (let i = 0; i < count; i++) mask[i] = bytes[i] !== 0 ? 1 : 0;
    } else {
      const scores = toFloat32(tensor.dtype, tensor.data);
      for (let i = 0; i < count; i++) mask[i] = scores[i] > 0 ? 1 : 0;
    }
    return mask;
  }

  // bit-packed
  if (tensor.dtype === 'U8' && stored === Math.ceil(count / 8)) {
    const bytes = tensor.data as Uint8Array;
    const mask = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const bit = bigEndianBits ? 7 - (i & 7) : i & 7;
      mask[i] = (bytes[i >> 3] >> bit) & 1;
    }
    return mask;
  }

  throw new MismatchError(
    `${label} is ${tensor.dtype} ${formatShape(tensor.shape)}, which fits neither the parameter shape ${formatShape(shape)} ` +
      `nor ${Math.ceil(count / 8)} bit-packed bytes; the module belongs to another model`,
  );
}

function findMaskFile(path: string): string {
  if (!fs.existsSync(path)) throw new CheckpointError(path, 'module folder or mask file not found');
  if (!fs.statSync(path).isDirectory()) return path;

  for (const name of MASK_FILE_NAMES) {
    const file = nodePath.join(path, name);
    if (fs.existsSync(file)) return file;
  }
  const candidates = fs.readdirSync(path).filter((name) => name.endsWith('.safetensors'));
  if (candidates.length === 1) return nodePath.join(path, candidates[0]);
  throw new CheckpointError(
    path,
    candidates.length === 0 ? 'module folder holds no mask safetensors file' : `module folder holds several safetensors files (${candidates.join(', ')})`,
    `Name the mask file itself, or keep one of ${MASK_FILE_NAMES.join(', ')} in the folder`,
  );
}
