import * as fs from 'fs';

import { CheckpointError } from '../errors';
import { DTYPE_SIZE, typedArrayFor } from './dtype';
import type { CheckpointReader } from './reader';
import { formatShape, numel, type RawTensor, type StateDict, type TensorInfo } from './state-dict';
import { gatherRowMajor, isRowMajor, swapByteOrder, viewSpan } from './strided';
import { isTensorView, readTorchPickle, type TorchTensorView } from './torch-globals';
import { readExactly, ZipArchive, type ZipEntry } from './zip';

const LEGACY_HINT =
  'This is the legacy (pre-1.6) torch.save format. In Python, re-save it with ' +
  'torch.save(state_dict, path, _use_new_zipfile_serialization=True) or convert it to safetensors';

/** Options of `PyTorchFile.open`. */
export interface PyTorchOpenOptions {
  /**
   * Check the CRC-32 of every storage read whole (default true). Turning it off skips one pass
   * over the bytes; see bench/checkpoint-read.ts for what that saves.
   */
  verifyCrc?: boolean;
}

/**
 * A PyTorch state dict saved by `torch.save` (the zip format of PyTorch 1.6 and later, as
 * `pytorch_model.bin`), opened for lazy reading. Opening reads the zip central directory and
 * runs the pickle, which only describes tensors; each `read` then fetches that tensor's bytes
 * from its storage record.
 *
 * Archive layout: `<archive>/data.pkl` (the pickled dict, tensors as persistent ids naming
 * storages), `<archive>/data/<key>` (raw storage bytes), `<archive>/byteorder` and
 * `<archive>/version`. The byteorder record contains `little` or `big`. Older PyTorch versions
 * (1.13, for one) write none, which means little-endian.
 */
export class PyTorchFile implements CheckpointReader {
  private constructor(
    readonly path: string,
    private readonly archive: ZipArchive,
    private readonly tensors: Map<string, TorchTensorView>,
    private readonly storageEntries: Map<string, ZipEntry>,
    private readonly bigEndian: boolean,
  ) {}

  /**
   * Opens and validates `path`. Throws a CheckpointError naming the file and the problem for a
   * missing file, the legacy non-zip format, a truncated or corrupt zip, a pickle with globals
   * outside the state-dict allow-list, and tensors that reach outside their storage. With
   * `verifyCrc` (the default), `read` throws a CheckpointError for storage bytes that fail
   * their CRC-32.
   */
  static open(path: string, options: PyTorchOpenOptions = {}): PyTorchFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (error) {
      throw new CheckpointError(path, `cannot open PyTorch checkpoint (${(error as Error).message})`);
    }

    let archive: ZipArchive | undefined;
    try {
      checkMagic(path, fd);
      archive = ZipArchive.open(path, fd);
      archive.verifyCrc = options.verifyCrc ?? true;
      const prefix = findArchivePrefix(path, archive);
      const bigEndian = readByteOrder(path, archive, prefix);
      const tensors = readTensorViews(path, archive, prefix);
      const storageEntries = findStorageEntries(path, archive, prefix, tensors);
      return new PyTorchFile(path, archive, tensors, storageEntries, bigEndian);
    } catch (error) {
      if (archive) archive.close();
      else fs.closeSync(fd);
      throw error;
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const view = this.view(name);
    return { dtype: view.storage.dtype, shape: [...view.shape] };
  }

  /** Returns `{ format: 'pt' }`, the metadata `transformers` expects on safetensors converted from PyTorch. */
  metadata(): Record<string, string> {
    return { format: 'pt' };
  }

  /**
   * Reads `name` as a row-major tensor: only the bytes of its storage that the view covers are
   * read, and a non-contiguous view is copied into row-major order.
   */
  read(name: string): RawTensor {
    const view = this.view(name);
    const { dtype } = view.storage;
    const elementSize = DTYPE_SIZE[dtype];
    const count = numel(view.shape);
    const entry = this.storageEntries.get(view.storage.key)!;

    // the contiguous case reads exactly the tensor's bytes; a strided view reads the span it touches
    const contiguous = isRowMajor(view.shape, view.stride);
    const span = contiguous ? count : viewSpan(view.shape, view.stride);
    let bytes: Uint8Array = this.archive.read(entry, view.offset * elementSize, span * elementSize);
    if (bytes.byteOffset % elementSize !== 0) bytes = bytes.slice();

    if (this.bigEndian) swapByteOrder(bytes, elementSize);
    if (!contiguous) bytes = gatherRowMajor(bytes, elementSize, view.shape, view.stride, count);

    return { dtype, shape: [...view.shape], data: typedArrayFor(dtype, bytes.buffer as ArrayBuffer, bytes.byteOffset, count) };
  }

  /** Reads every tensor, in pickle order. Tied names get separate copies of the same values. */
  readAll(): StateDict {
    const state: StateDict = new Map();
    for (const name of this.keys()) state.set(name, this.read(name));
    return state;
  }

  /**
   * Returns the groups of names that are the same view of the same storage (tied weights such
   * as `lm_head.weight` and `transformer.wte.weight`), each in pickle order. `save_pretrained`
   * keeps only one name of each group in `model.safetensors`.
   */
  tiedGroups(): string[][] {
    const groups = new Map<string, string[]>();
    for (const [name, view] of this.tensors) {
      const identity = `${view.storage.key}|${view.offset}|${view.shape.join(',')}|${view.stride.join(',')}`;
      const group = groups.get(identity);
      if (group) group.push(name);
      else groups.set(identity, [name]);
    }
    return [...groups.values()].filter((group) => group.length > 1);
  }

  close(): void {
    this.archive.close();
  }

  private view(name: string): TorchTensorView {
    const view = this.tensors.get(name);
    if (!view) throw new CheckpointError(this.path, `tensor "${name}" not found`);
    return view;
  }
}

/** Reads every tensor of a PyTorch `.bin` state dict. */
export function loadPyTorch(path: string): StateDict {
  const file = PyTorchFile.open(path);
  try {
    return file.readAll();
  } finally {
    file.close();
  }
}

function checkMagic(path: string, fd: number): void {
  const size = fs.fstatSync(fd).size;
  if (size === 0) throw new CheckpointError(path, 'file is empty');
  const head = readExactly(path, fd, 0, Math.min(size, 512));

  // local file header, or the end record of an archive without entries
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)) return;

  if (head[0] === 0x80) throw new CheckpointError(path, 'file is a bare pickle, not a zip archive', LEGACY_HINT);
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') {
    throw new CheckpointError(path, 'file is a tar archive, not a zip archive', LEGACY_HINT);
  }
  throw new CheckpointError(
    path,
    'file is not a PyTorch checkpoint: it starts with neither a zip nor a pickle header',
    'Pass a file written by torch.save, or a .safetensors file',
  );
}

/** Finds `<archive>/data.pkl`; torch names the top folder after the file it saved to, or `archive`. */
function findArchivePrefix(path: string, archive: ZipArchive): string {
  const candidates = [...archive.entries.keys()].filter((name) => /^[^/]*\/?data\.pkl$/.test(name));
  if (candidates.length !== 1) {
    throw new CheckpointError(
      path,
      candidates.length === 0
        ? 'zip archive has no data.pkl, so it was not written by torch.save'
        : `zip archive has ${candidates.length} data.pkl records (${candidates.join(', ')})`,
    );
  }
  const prefix = candidates[0].slice(0, -'data.pkl'.length);
  if (archive.entry(`${prefix}constants.pkl`)) {
    throw new CheckpointError(
      path,
      'file is a TorchScript archive (torch.jit.save), not a state dict',
      'In Python, load it and save model.state_dict() with torch.save or safetensors',
    );
  }
  return prefix;
}

function readByteOrder(path: string, archive: ZipArchive, prefix: string): boolean {
  const entry = archive.entry(`${prefix}byteorder`);
  if (!entry) return false;
  const order = archive.read(entry, 0, entry.size).toString('latin1').trim();
  if (order !== 'little' && order !== 'big') {
    throw new CheckpointError(path, `byteorder record contains "${order}"; expected "little" or "big"`);
  }
  return order === 'big';
}

function readTensorViews(path: string, archive: ZipArchive, prefix: string): Map<string, TorchTensorView> {
  const entry = archive.entry(`${prefix}data.pkl`)!;
  const dict = readTorchPickle(path, archive.read(entry, 0, entry.size));

  const tensors = new Map<string, TorchTensorView>();
  for (const [name, value] of dict) {
    if (typeof name !== 'string') throw new CheckpointError(path, `state dict has a key that is not a string (${String(name)})`);
    if (!isTensorView(value)) {
      throw new CheckpointError(
        path,
        `value of "${name}" is not a tensor, so this is not a flat state dict`,
        'Save model.state_dict() itself, not a training checkpoint that wraps it',
      );
    }
    tensors.set(name, value);
  }
  return tensors;
}

/** Maps each storage key to its record and checks that every view stays inside its storage. */
function findStorageEntries(
  path: string,
  archive: ZipArchive,
  prefix: string,
  tensors: Map<string, TorchTensorView>,
): Map<string, ZipEntry> {
  const entries = new Map<string, ZipEntry>();
  for (const [name, view] of tensors) {
    const { key, dtype, numel: storageNumel } = view.storage;
    let entry = entries.get(key);
    if (!entry) {
      entry = archive.entry(`${prefix}data/${key}`);
      if (!entry) throw new CheckpointError(path, `storage record "${prefix}data/${key}" of tensor "${name}" is missing`);
      const expected = storageNumel * DTYPE_SIZE[dtype];
      if (entry.size !== expected) {
        throw new CheckpointError(
          path,
          `storage "${key}" contains ${entry.size} bytes but its ${storageNumel} ${dtype} elements need ${expected}`,
        );
      }
      entries.set(key, entry);
    }

    const end = view.offset + viewSpan(view.shape, view.stride);
    if (numel(view.shape) > 0 && end > storageNumel) {
      throw new CheckpointError(
        path,
        `tensor "${name}" (${dtype} ${formatShape(view.shape)}, offset ${view.offset}, stride ${formatShape(view.stride)}) reaches element ${end} of a storage with ${storageNumel}`,
      );
    }
  }
  return entries;
}
