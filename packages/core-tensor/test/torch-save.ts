/**
 * A minimal writer of the `torch.save` zip format, for tests and benchmarks only. Tests cannot
 * assume a Python with PyTorch, so files with strides, offsets, shared storages, other dtypes,
 * pickle protocol 4, big-endian data, deflate or ZIP64 records are built here byte by byte.
 *
 * It follows what PyTorch writes: records `<archive>/data.pkl`, `<archive>/byteorder`,
 * `<archive>/data/<key>` and `<archive>/version`; local headers with the data-descriptor flag
 * and zero sizes, padded with an `FB` extra field so record data starts on a 64-byte boundary;
 * storage keys "0", "1", ... in first-use order; tensors as `_rebuild_tensor_v2` calls whose
 * storages are persistent ids `('storage', torch.<Type>Storage, key, 'cpu', numel)`.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

import { DTYPE_SIZE, type DType, type TypedArray } from '../src/checkpoint/dtype';

/** One storage; tensors that refer to the same object share it. */
export interface TorchStorageSpec {
  dtype: DType;
  data: TypedArray;
}

/** A strided view into a storage (offset and stride in elements; stride defaults to row-major). */
export interface TorchTensorSpec {
  storage: TorchStorageSpec;
  shape: number[];
  offset?: number;
  stride?: number[];
}

export interface PickleOptions {
  /** 2 (what torch.save writes by default) or 4 (SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, FRAME). */
  protocol?: 2 | 4;
  /** Top-level container: a plain dict (as save_pretrained writes) or an OrderedDict with `_metadata` set by BUILD (as model.state_dict() pickles). */
  topLevel?: 'dict' | 'OrderedDict';
  /** Name storages by dtype object (`torch.float32`) instead of storage class (`torch.FloatStorage`). */
  storageGlobal?: 'class' | 'dtype';
  /** Wrap tensors in `torch._utils._rebuild_parameter`, as a saved nn.Parameter is. */
  parameters?: boolean;
  /** Add an entry whose value calls this global, to test the allow-list. */
  foreignGlobal?: [module: string, name: string];
}

const STORAGE_CLASS: Record<DType, string> = {
  F64: 'DoubleStorage',
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  I16: 'ShortStorage',
  I8: 'CharStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};

const TORCH_DTYPE: Record<DType, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

/** Returns row-major strides for `shape`. */
export function rowMajorStride(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = step;
    step *= shape[d];
  }
  return stride;
}

/** Builds the `data.pkl` of a state dict and returns it with the storages in key order. */
export function stateDictPickle(
  tensors: [string, TorchTensorSpec][],
  options: PickleOptions = {},
): { pickle: Uint8Array; storages: { key: string; storage: TorchStorageSpec }[] } {
  const writer = new PickleWriter(options.protocol ?? 2);
  const keys = new Map<TorchStorageSpec, string>();

  // top-level container
  if (options.topLevel === 'OrderedDict') {
    writer.global('collections', 'OrderedDict');
    writer.op(0x29); // EMPTY_TUPLE
    writer.op(0x52); // REDUCE
  } else {
    writer.op(0x7d); // EMPTY_DICT
  }
  writer.memoize();

  // entries
  writer.op(0x28); // MARK
  for (const [name, tensor] of tensors) {
    writer.string(name);
    writeTensor(writer, tensor, keys, options);
  }
  if (options.foreignGlobal) {
    writer.string('payload');
    writer.global(...options.foreignGlobal);
    writer.op(0x28);
    writer.string('echo');
    writer.op(0x74); // TUPLE
    writer.op(0x52); // REDUCE
  }
  writer.op(0x75); // SETITEMS

  // state_dict() pickles its `_metadata` attribute through BUILD
  if (options.topLevel === 'OrderedDict') {
    writer.op(0x7d);
    writer.string('_metadata');
    writer.global('collections', 'OrderedDict');
    writer.op(0x29);
    writer.op(0x52);
    writer.string('');
    writer.op(0x7d);
    writer.string('version');
    writer.int(1);
    writer.op(0x73); // SETITEM
    writer.op(0x73);
    writer.op(0x73);
    writer.op(0x62); // BUILD
  }
  writer.op(0x2e); // STOP

  const storages = [...keys].map(([storage, key]) => ({ key, storage }));
  return { pickle: writer.finish(), storages };
}

function writeTensor(
  writer: PickleWriter,
  tensor: TorchTensorSpec,
  keys: Map<TorchStorageSpec, string>,
  options: PickleOptions,
): void {
  if (options.parameters) {
    writer.global('torch._utils', '_rebuild_parameter');
    writer.op(0x28);
  }

  writer.global('torch._utils', '_rebuild_tensor_v2');
  writer.op(0x28);

  // persistent id of the storage
  let key = keys.get(tensor.storage);
  if (key === undefined) {
    key = String(keys.size);
    keys.set(tensor.storage, key);
  }
  writer.op(0x28);
  writer.string('storage');
  if (options.storageGlobal === 'dtype') writer.global('torch', TORCH_DTYPE[tensor.storage.dtype]);
  else writer.global('torch', STORAGE_CLASS[tensor.storage.dtype]);
  writer.string(key);
  writer.string('cpu');
  writer.int(tensor.storage.data.length);
  writer.op(0x74);
  writer.op(0x51); // BINPERSID

  // offset, size, stride, requires_grad, backward_hooks
  writer.int(tensor.offset ?? 0);
  writer.intTuple(tensor.shape);
  writer.intTuple(tensor.stride ?? rowMajorStride(tensor.shape));
  writer.op(0x89); // NEWFALSE
  writer.global('collections', 'OrderedDict');
  writer.op(0x29);
  writer.op(0x52);
  writer.op(0x74);
  writer.op(0x52);

  if (options.parameters) {
    writer.op(0x88); // NEWTRUE
    writer.global('collections', 'OrderedDict');
    writer.op(0x29);
    writer.op(0x52);
    writer.op(0x74);
    writer.op(0x52);
  }
}

/** Emits pickle opcodes; repeated globals are fetched from the memo, as CPython's pickler does. */
class PickleWriter {
  private readonly chunks: number[] = [];
  private readonly globals = new Map<string, number>();
  private memoSize = 0;

  constructor(private readonly protocol: 2 | 4) {
    this.op(0x80, protocol);
  }

  op(...bytes: number[]): void {
    this.chunks.push(...bytes);
  }

  memoize(): void {
    if (this.protocol >= 4) this.op(0x94);
    else if (this.memoSize < 256) this.op(0x71, this.memoSize);
    else this.op(0x72, ...le(this.memoSize, 4));
    this.memoSize++;
  }

  global(module: string, name: string): void {
    const id = `${module}\n${name}`;
    const slot = this.globals.get(id);
    if (slot !== undefined) {
      if (slot < 256) this.op(0x68, slot);
      else this.op(0x6a, ...le(slot, 4));
      return;
    }
    if (this.protocol >= 4) {
      this.string(module);
      this.string(name);
      this.op(0x93);
    } else {
      this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
    }
    this.globals.set(id, this.memoSize);
    this.memoize();
  }

  string(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    if (this.protocol >= 4 && bytes.length < 256) this.op(0x8c, bytes.length, ...bytes);
    else this.op(0x58, ...le(bytes.length, 4), ...bytes);
  }

  int(value: number): void {
    if (value >= 0 && value < 256) this.op(0x4b, value);
    else if (value >= 0 && value < 65536) this.op(0x4d, ...le(value, 2));
    else if (value >= -(2 ** 31) && value < 2 ** 31) this.op(0x4a, ...le(value >>> 0, 4));
    else {
      // LONG1: little-endian two's complement, 8 bytes is enough for any safe integer
      const bytes = Buffer.alloc(8);
      bytes.writeBigInt64LE(BigInt(value));
      this.op(0x8a, 8, ...bytes);
    }
  }

  intTuple(values: number[]): void {
    if (values.length === 0) return this.op(0x29);
    if (values.length <= 3) {
      for (const value of values) this.int(value);
      return this.op([0x85, 0x86, 0x87][values.length - 1]);
    }
    this.op(0x28);
    for (const value of values) this.int(value);
    this.op(0x74);
  }

  /** Returns the pickle; protocol 4 wraps everything after PROTO in one FRAME. */
  finish(): Uint8Array {
    const body = Uint8Array.from(this.chunks);
    if (this.protocol < 4) return body;
    const rest = body.subarray(2);
    return Uint8Array.from([...body.subarray(0, 2), 0x95, ...le(rest.length, 8), ...rest]);
  }
}

function le(value: number, bytes: number): number[] {
  const out: number[] = [];
  let rest = BigInt(value);
  for (let i = 0; i < bytes; i++) {
    out.push(Number(rest & 0xffn));
    rest >>= 8n;
  }
  return out;
}

/** One record of a zip archive. */
export interface ZipRecord {
  name: string;
  data: Uint8Array;
}

export interface ZipOptions {
  /** Deflate every record instead of storing it. */
  compress?: boolean;
  /** Write ZIP64 extra fields and end records even though the sizes fit in 32 bits. */
  zip64?: boolean;
}

/** Writes `records` as a zip archive the way PyTorch's writer lays it out. */
export function writeZip(file: string, records: ZipRecord[], options: ZipOptions = {}): void {
  const fd = fs.openSync(file, 'w');
  let offset = 0;
  const write = (bytes: Uint8Array): void => {
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done);
    offset += bytes.length;
  };

  try {
    // local headers and data
    const central: Buffer[] = [];
    for (const record of records) {
      const name = Buffer.from(record.name, 'utf8');
      const crc = zlib.crc32(record.data) >>> 0;
      const stored = options.compress ? zlib.deflateRawSync(record.data) : record.data;
      const localOffset = offset;

      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(options.zip64 ? 45 : 20, 4);
      header.writeUInt16LE(0x0808, 6); // data descriptor follows, UTF-8 names
      header.writeUInt16LE(options.compress ? 8 : 0, 8);
      header.writeUInt16LE(name.length, 26);
      const padding = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
      header.writeUInt16LE(4 + padding, 28);
      const extra = Buffer.alloc(4 + padding, 'Z');
      extra.write('FB', 0, 'latin1');
      extra.writeUInt16LE(padding, 2);
      write(header);
      write(name);
      write(extra);
      write(stored);

      const descriptor = Buffer.alloc(options.zip64 ? 24 : 16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      if (options.zip64) {
        descriptor.writeBigUInt64LE(BigInt(stored.length), 8);
        descriptor.writeBigUInt64LE(BigInt(record.data.length), 16);
      } else {
        descriptor.writeUInt32LE(stored.length, 8);
        descriptor.writeUInt32LE(record.data.length, 12);
      }
      write(descriptor);

      central.push(centralHeader(name, crc, stored.length, record.data.length, localOffset, options));
    }

    // central directory and end records
    const directoryOffset = offset;
    for (const header of central) write(header);
    const directorySize = offset - directoryOffset;
    if (options.zip64) {
      const zip64EndOffset = offset;
      const end64 = Buffer.alloc(56);
      end64.writeUInt32LE(0x06064b50, 0);
      end64.writeBigUInt64LE(44n, 4);
      end64.writeUInt16LE(45, 12);
      end64.writeUInt16LE(45, 14);
      end64.writeBigUInt64LE(BigInt(records.length), 24);
      end64.writeBigUInt64LE(BigInt(records.length), 32);
      end64.writeBigUInt64LE(BigInt(directorySize), 40);
      end64.writeBigUInt64LE(BigInt(directoryOffset), 48);
      write(end64);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeBigUInt64LE(BigInt(zip64EndOffset), 8);
      locator.writeUInt32LE(1, 16);
      write(locator);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(options.zip64 ? 0xffff : records.length, 8);
    end.writeUInt16LE(options.zip64 ? 0xffff : records.length, 10);
    end.writeUInt32LE(options.zip64 ? 0xffffffff : directorySize, 12);
    end.writeUInt32LE(options.zip64 ? 0xffffffff : directoryOffset, 16);
    write(end);
  } finally {
    fs.closeSync(fd);
  }
}

function centralHeader(
  name: Buffer,
  crc: number,
  compressedSize: number,
  size: number,
  localOffset: number,
  options: ZipOptions,
): Buffer {
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(options.zip64 ? 45 : 20, 4);
  header.writeUInt16LE(options.zip64 ? 45 : 20, 6);
  header.writeUInt16LE(0x0808, 8);
  header.writeUInt16LE(options.compress ? 8 : 0, 10);
  header.writeUInt32LE(crc, 16);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : compressedSize, 20);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : size, 24);
  header.writeUInt16LE(name.length, 28);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : localOffset, 42);
  if (!options.zip64) {
    header.writeUInt16LE(0, 30);
    return Buffer.concat([header, name]);
  }
  const extra = Buffer.alloc(28);
  extra.writeUInt16LE(0x0001, 0);
  extra.writeUInt16LE(24, 2);
  extra.writeBigUInt64LE(BigInt(size), 4);
  extra.writeBigUInt64LE(BigInt(compressedSize), 12);
  extra.writeBigUInt64LE(BigInt(localOffset), 20);
  header.writeUInt16LE(extra.length, 30);
  return Buffer.concat([header, name, extra]);
}

export interface TorchSaveOptions extends PickleOptions, ZipOptions {
  /** Top folder inside the archive (torch uses the file's base name, or `archive`). */
  archiveName?: string;
  /** Content of the byteorder record; null leaves it out, as PyTorch 1.13 does. */
  byteOrder?: 'little' | 'big' | null;
}

/** Returns the archive records of a state dict, ready for `writeZip`. */
export function torchSaveRecords(tensors: [string, TorchTensorSpec][], options: TorchSaveOptions = {}): ZipRecord[] {
  const archive = options.archiveName ?? 'archive';
  const byteOrder = options.byteOrder === undefined ? 'little' : options.byteOrder;
  const { pickle, storages } = stateDictPickle(tensors, options);

  const records: ZipRecord[] = [{ name: `${archive}/data.pkl`, data: pickle }];
  if (byteOrder) records.push({ name: `${archive}/byteorder`, data: Buffer.from(byteOrder) });
  for (const { key, storage } of storages) {
    const bytes = new Uint8Array(storage.data.buffer, storage.data.byteOffset, storage.data.byteLength).slice();
    if (byteOrder === 'big') reverseElements(bytes, DTYPE_SIZE[storage.dtype]);
    records.push({ name: `${archive}/data/${key}`, data: bytes });
  }
  records.push({ name: `${archive}/version`, data: Buffer.from('3\n') });
  return records;
}

/** Writes a state dict as `torch.save` would. */
export function torchSave(file: string, tensors: [string, TorchTensorSpec][], options: TorchSaveOptions = {}): void {
  writeZip(file, torchSaveRecords(tensors, options), options);
}

function reverseElements(bytes: Uint8Array, size: number): void {
  for (let start = 0; start < bytes.length; start += size) bytes.subarray(start, start + size).reverse();
}
