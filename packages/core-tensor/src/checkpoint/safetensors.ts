import * as fs from 'fs';

import { CheckpointError, InvalidInputError } from '../errors';
import { DTYPE_RANK, DTYPE_SIZE, isDType, typedArrayFor, type DType, type TypedArray } from './dtype';
import { removeQuietly, temporaryPath } from './atomic';
import type { CheckpointReader } from './reader';
import { byteSize, formatShape, numel, type RawTensor, type StateDict, type TensorInfo } from './state-dict';

// A header larger than this is not a checkpoint header; the Rust implementation uses the same cap.
const MAX_HEADER_BYTES = 100_000_000;

interface Entry extends TensorInfo {
  begin: number;
  end: number;
}

/**
 * A safetensors file opened for lazy reading: the header is parsed and validated on open, and
 * each `read` fetches only that tensor's bytes.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data section.
 * Each header entry gives `dtype`, `shape` and `data_offsets` relative to the data section.
 */
export class SafetensorsFile implements CheckpointReader {
  private fd: number | undefined;
  private readonly entries: Map<string, Entry>;
  private readonly meta: Record<string, string>;
  private readonly dataStart: number;

  private constructor(
    readonly path: string,
    fd: number,
    entries: Map<string, Entry>,
    meta: Record<string, string>,
    dataStart: number,
  ) {
    this.fd = fd;
    this.entries = entries;
    this.meta = meta;
    this.dataStart = dataStart;
  }

  /** Opens and validates `path`; throws a CheckpointError naming the file and the problem. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (error) {
      throw new CheckpointError(path, `cannot open safetensors file (${(error as Error).message})`);
    }
    try {
      const fileSize = fs.fstatSync(fd).size;
      const { entries, meta, dataStart } = parseHeader(path, fd, fileSize);
      return new SafetensorsFile(path, fd, entries, meta, dataStart);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const entry = this.entry(name);
    return { dtype: entry.dtype, shape: [...entry.shape] };
  }

  metadata(): Record<string, string> {
    return { ...this.meta };
  }

  read(name: string): RawTensor {
    const entry = this.entry(name);
    const data = this.readBytes(entry);
    return { dtype: entry.dtype, shape: [...entry.shape], data };
  }

  /** Reads every tensor, in file order. */
  readAll(): StateDict {
    const state: StateDict = new Map();
    for (const name of this.keys()) state.set(name, this.read(name));
    return state;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) throw new CheckpointError(this.path, `tensor "${name}" not found`);
    return entry;
  }

  private readBytes(entry: Entry): TypedArray {
    if (this.fd === undefined) throw new CheckpointError(this.path, 'file was already closed');
    const length = entry.end - entry.begin;
    const buffer = new ArrayBuffer(length);
    const view = new Uint8Array(buffer);
    let done = 0;
    while (done < length) {
      const count = fs.readSync(this.fd, view, done, length - done, this.dataStart + entry.begin + done);
      if (count === 0) throw new CheckpointError(this.path, 'file ended while reading tensor data (truncated?)');
      done += count;
    }
    return typedArrayFor(entry.dtype, buffer, 0, numel(entry.shape));
  }
}

function parseHeader(path: string, fd: number, fileSize: number) {
  // header length
  if (fileSize < 8) {
    throw new CheckpointError(path, `file is ${fileSize} bytes, too short for a safetensors header (truncated?)`);
  }
  const lengthBytes = Buffer.alloc(8);
  fs.readSync(fd, lengthBytes, 0, 8, 0);
  const headerLength = Number(lengthBytes.readBigUInt64LE(0));
  if (headerLength > MAX_HEADER_BYTES) {
    throw new CheckpointError(path, `header length ${headerLength} is implausible; this is not a safetensors file`);
  }
  if (8 + headerLength > fileSize) {
    throw new CheckpointError(
      path,
      `header length ${headerLength} runs past the end of the ${fileSize}-byte file (truncated?)`,
    );
  }

  // header JSON
  const headerBytes = Buffer.alloc(headerLength);
  fs.readSync(fd, headerBytes, 0, headerLength, 8);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (error) {
    throw new CheckpointError(path, `header is not valid JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new CheckpointError(path, 'header is not a JSON object');
  }

  // entries
  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  let meta: Record<string, string> = {};
  const entries = new Map<string, Entry>();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      meta = parseMetadata(path, value);
      continue;
    }
    entries.set(name, parseEntry(path, name, value));
  }

  // offsets must tile the data section without gaps or overlaps
  const byOffset = [...entries.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let expected = 0;
  for (const [name, entry] of byOffset) {
    if (entry.begin < expected) {
      throw new CheckpointError(path, `data of tensor "${name}" overlaps the previous tensor (offset ${entry.begin})`);
    }
    if (entry.begin > expected) {
      throw new CheckpointError(path, `gap in the data section before tensor "${name}" (offset ${entry.begin}, expected ${expected})`);
    }
    expected = entry.end;
  }
  if (expected > dataLength) {
    const last = byOffset[byOffset.length - 1][0];
    throw new CheckpointError(
      path,
      `tensor "${last}" ends at data offset ${expected} but the data section has ${dataLength} bytes (truncated?)`,
    );
  }
  if (expected < dataLength) {
    throw new CheckpointError(path, `${dataLength - expected} trailing bytes after the last tensor`);
  }

  // keep file order (by offset), which is the order the writer chose
  const ordered = new Map(byOffset);
  return { entries: ordered, meta, dataStart };
}

function parseMetadata(path: string, value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointError(path, '"__metadata__" must be an object of strings');
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw new CheckpointError(path, `"__metadata__.${key}" must be a string`);
    }
  }
  return value as Record<string, string>;
}

function parseEntry(path: string, name: string, value: unknown): Entry {
  const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (entry === null || typeof entry !== 'object') {
    throw new CheckpointError(path, `header entry "${name}" is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !isDType(dtype)) {
    throw new CheckpointError(path, `tensor "${name}" has unknown or unsupported dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && size >= 0)) {
    throw new CheckpointError(path, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0) ||
    offsets[1] < offsets[0]
  ) {
    throw new CheckpointError(path, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const expectedBytes = numel(shape) * DTYPE_SIZE[dtype];
  if (offsets[1] - offsets[0] !== expectedBytes) {
    throw new CheckpointError(
      path,
      `tensor "${name}" (${dtype} ${formatShape(shape)}) needs ${expectedBytes} bytes but data_offsets span ${offsets[1] - offsets[0]}`,
    );
  }
  return { dtype, shape, begin: offsets[0], end: offsets[1] };
}

/** Name, dtype and shape of one tensor to be written. */
export interface TensorSpec extends TensorInfo {
  name: string;
}

/**
 * Writes a safetensors file tensor by tensor, so a merged model never has to be held whole.
 * The layout follows the reference serializer: tensors ordered by dtype (widest first) then by
 * name, header keys in that order after `__metadata__`, header padded with spaces to a multiple
 * of 8. Data goes to a temporary file that `commit` renames into place, so a failed write leaves
 * nothing behind.
 */
export class SafetensorsWriter {
  private fd: number | undefined;
  private readonly temporary: string;
  private readonly offsets = new Map<string, Entry>();
  private readonly written = new Set<string>();
  private readonly dataStart: number;

  constructor(
    readonly path: string,
    specs: TensorSpec[],
    metadata: Record<string, string> = { format: 'pt' },
  ) {
    // layout
    const ordered = [...specs].sort(
      (a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    const header: Record<string, unknown> = {};
    if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
    let offset = 0;
    for (const spec of ordered) {
      if (this.offsets.has(spec.name)) throw new InvalidInputError(`Tensor "${spec.name}" is listed twice`);
      const end = offset + byteSize(spec);
      this.offsets.set(spec.name, { dtype: spec.dtype, shape: [...spec.shape], begin: offset, end });
      header[spec.name] = { dtype: spec.dtype, shape: spec.shape, data_offsets: [offset, end] };
      offset = end;
    }

    // header, padded with spaces to a multiple of 8
    let json = JSON.stringify(header);
    const padding = (8 - (Buffer.byteLength(json) % 8)) % 8;
    json += ' '.repeat(padding);
    const headerBytes = Buffer.from(json, 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(headerBytes.length));
    this.dataStart = 8 + headerBytes.length;

    this.temporary = temporaryPath(path);
    this.fd = fs.openSync(this.temporary, 'w');
    fs.writeSync(this.fd, prefix, 0, 8, 0);
    fs.writeSync(this.fd, headerBytes, 0, headerBytes.length, 8);
    if (offset === 0) return;
    // Size the file up front so tensors can be written in any order.
    fs.ftruncateSync(this.fd, this.dataStart + offset);
  }

  /** Writes the elements of `name`; dtype and element count must match its spec. */
  write(name: string, tensor: { dtype: DType; data: TypedArray }): void {
    if (this.fd === undefined) throw new InvalidInputError(`Cannot write "${name}": ${this.path} is already closed`);
    const entry = this.offsets.get(name);
    if (!entry) throw new InvalidInputError(`Tensor "${name}" is not in the header of ${this.path}`);
    if (tensor.dtype !== entry.dtype || tensor.data.length !== numel(entry.shape)) {
      throw new InvalidInputError(
        `Tensor "${name}" is ${tensor.dtype} with ${tensor.data.length} elements but ${this.path} expects ${entry.dtype} ${formatShape(entry.shape)}`,
      );
    }
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.dataStart + entry.begin + done);
    }
    this.written.add(name);
  }

  /** Checks that every tensor was written, then moves the file into place. */
  commit(): void {
    if (this.fd === undefined) throw new InvalidInputError(`${this.path} is already closed`);
    const missing = [...this.offsets.keys()].filter((name) => !this.written.has(name));
    if (missing.length > 0) {
      this.abort();
      throw new InvalidInputError(`Cannot finish ${this.path}: ${missing.length} tensors were never written (first: "${missing[0]}")`);
    }
    fs.closeSync(this.fd);
    this.fd = undefined;
    fs.renameSync(this.temporary, this.path);
  }

  /** Discards the temporary file. */
  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    removeQuietly(this.temporary);
  }
}

/** Writes a whole state dict to `path` as safetensors (atomically). */
export function saveSafetensors(path: string, state: StateDict, metadata?: Record<string, string>): void {
  const specs = [...state].map(([name, tensor]) => ({ name, dtype: tensor.dtype, shape: tensor.shape }));
  const writer = new SafetensorsWriter(path, specs, metadata);
  try {
    for (const [name, tensor] of state) writer.write(name, tensor);
  } catch (error) {
    writer.abort();
    throw error;
  }
  writer.commit();
}

/** Reads every tensor of a safetensors file. */
export function loadSafetensors(path: string): StateDict {
  const file = SafetensorsFile.open(path);
  try {
    return file.readAll();
  } finally {
    file.close();
  }
}
