/**
 * The Python globals and persistent ids that a `torch.save`d state dict refers to, mapped to
 * plain descriptions of tensors. Nothing here reads tensor data: a tensor becomes a
 * `TorchTensorView` that names its storage, and the reader fetches bytes later.
 */
import { CheckpointError } from '../errors';
import { DTYPE_SIZE, type DType } from './dtype';
import { unpickle, type PythonCallable } from './pickle';

/** One storage record of the archive (`<archive>/data/<key>`), as its persistent id declares it. */
export interface TorchStorage {
  key: string;
  dtype: DType;
  /** Number of elements the storage holds. */
  numel: number;
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view into a storage. */
export interface TorchTensorView {
  storage: TorchStorage;
  /** Offset of the first element, in elements. */
  offset: number;
  shape: number[];
  /** Step between neighbours along each dimension, in elements. */
  stride: number[];
}

/** `torch.<Name>Storage` classes named in persistent ids, by the dtype their elements have. */
const STORAGE_CLASSES: Record<string, DType> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** `torch.<dtype>` objects, which newer writers may name in place of a storage class. */
const TORCH_DTYPES: Record<string, DType> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** `torch.<dtype>` objects that safetensors-style dtypes cannot hold. */
const UNSUPPORTED_TORCH_DTYPES = new Set(['complex32', 'complex64', 'complex128', 'uint16', 'uint32', 'uint64', 'float8_e4m3fn', 'float8_e5m2']);

/** Stand-in for a storage class or dtype global: only its element type matters. */
interface StorageType {
  readonly qualifiedName: string;
  readonly dtype: DType;
}

const TENSOR_VIEW = Symbol('TorchTensorView');

/** Returns whether `value` is a tensor the unpickler rebuilt. */
export function isTensorView(value: unknown): value is TorchTensorView {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TENSOR_VIEW] === true;
}

/**
 * Runs the `data.pkl` of a torch archive and returns its top-level dict, with every tensor as a
 * `TorchTensorView`. `file` names the checkpoint in messages. Throws a CheckpointError for any
 * global outside the state-dict allow-list, a malformed persistent id or tensor, or a top-level
 * value that is not a dict.
 */
export function readTorchPickle(file: string, bytes: Uint8Array): Map<unknown, unknown> {
  const storages = new Map<string, TorchStorage>();

  const result = unpickle(file, bytes, {
    findGlobal: (module, name) => findTorchGlobal(file, module, name),
    persistentLoad: (pid) => loadStorage(file, pid, storages),
  });

  if (!(result instanceof Map)) {
    throw new CheckpointError(file, 'data.pkl does not contain a dict of tensors, so this is not a state dict');
  }
  return result;
}

function findTorchGlobal(file: string, module: string, name: string): unknown {
  const qualifiedName = `${module}.${name}`;

  if (module === 'collections' && name === 'OrderedDict') return orderedDict;
  if (module === 'torch._utils') {
    if (name === '_rebuild_tensor_v2') return rebuildTensor(file);
    if (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state') return rebuildParameter(file, qualifiedName);
  }
  if (module === 'torch') {
    const dtype = STORAGE_CLASSES[name] ?? TORCH_DTYPES[name];
    if (dtype) return { qualifiedName, dtype } satisfies StorageType;
    if (name.endsWith('Storage') || UNSUPPORTED_TORCH_DTYPES.has(name)) {
      throw new CheckpointError(
        file,
        `data.pkl stores tensors of type ${qualifiedName}, which is not supported`,
        `Supported element types: ${Object.keys(TORCH_DTYPES).join(', ')}`,
      );
    }
  }

  throw new CheckpointError(
    file,
    `data.pkl refers to the Python global "${qualifiedName}", which is not part of a PyTorch state dict`,
    'Only dicts of tensors can be read: in Python, load the file and save model.state_dict() with safetensors',
  );
}

const orderedDict: PythonCallable = {
  qualifiedName: 'collections.OrderedDict',
  call(args) {
    const map = new Map<unknown, unknown>();
    const items = args[0];
    if (Array.isArray(items)) for (const pair of items) if (Array.isArray(pair)) map.set(pair[0], pair[1]);
    return map;
  },
};

function rebuildTensor(file: string): PythonCallable {
  const qualifiedName = 'torch._utils._rebuild_tensor_v2';
  return {
    qualifiedName,
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    call(args) {
      const [storage, offset, shape, stride] = args;
      if (!isStorage(storage)) throw new CheckpointError(file, `${qualifiedName} got no storage as its first argument`);
      if (!isCount(offset)) throw new CheckpointError(file, `${qualifiedName} got an invalid storage offset ${String(offset)}`);
      if (!isCountList(shape) || !isCountList(stride) || shape.length !== stride.length) {
        throw new CheckpointError(
          file,
          `${qualifiedName} got an invalid size ${JSON.stringify(shape)} or stride ${JSON.stringify(stride)}`,
        );
      }
      return { [TENSOR_VIEW]: true, storage, offset, shape: [...shape], stride: [...stride] } as TorchTensorView;
    },
  };
}

function rebuildParameter(file: string, qualifiedName: string): PythonCallable {
  return {
    qualifiedName,
    // (data, requires_grad, backward_hooks[, state]): a Parameter is its data tensor here
    call(args) {
      if (!isTensorView(args[0])) throw new CheckpointError(file, `${qualifiedName} got no tensor as its first argument`);
      return args[0];
    },
  };
}

/** Resolves `('storage', storage_type, key, location, numel)`, one record per key. */
function loadStorage(file: string, pid: unknown, storages: Map<string, TorchStorage>): TorchStorage {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
    throw new CheckpointError(file, `data.pkl has an unsupported persistent id ${describe(pid)}; expected ('storage', type, key, location, numel)`);
  }
  const [, type, key, , count] = pid;
  if (!isStorageType(type)) throw new CheckpointError(file, `persistent id names ${describe(type)} instead of a storage type`);
  if (typeof key !== 'string' || !isCount(count)) {
    throw new CheckpointError(file, `persistent id has an invalid key ${describe(key)} or element count ${describe(count)}`);
  }

  const known = storages.get(key);
  if (known) {
    if (known.dtype !== type.dtype) {
      throw new CheckpointError(file, `storage "${key}" is declared as both ${known.dtype} and ${type.dtype}`);
    }
    return known;
  }
  const storage: TorchStorage = { key, dtype: type.dtype, numel: count };
  storages.set(key, storage);
  return storage;
}

function isStorageType(value: unknown): value is StorageType {
  return typeof value === 'object' && value !== null && typeof (value as StorageType).dtype === 'string' && (value as StorageType).dtype in DTYPE_SIZE;
}

function isStorage(value: unknown): value is TorchStorage {
  return typeof value === 'object' && value !== null && typeof (value as TorchStorage).key === 'string' && 'numel' in value;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCountList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isCount);
}

function describe(value: unknown): string {
  if (value === null) return 'None';
  if (typeof value === 'object' && 'qualifiedName' in (value as object)) return (value as { qualifiedName: string }).qualifiedName;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
