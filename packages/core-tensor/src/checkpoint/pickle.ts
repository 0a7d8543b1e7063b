/**
 * A restricted unpickler for the `data.pkl` that `torch.save` writes.
 *
 * It runs the pickle virtual machine for the binary opcodes of protocols 2 to 4 that a state
 * dict uses (containers, numbers, strings, memo, GLOBAL/STACK_GLOBAL, REDUCE, BUILD,
 * BINPERSID) and nothing else. Globals are never imported: the caller's `findGlobal` maps an
 * allow-listed `module.name` to a JavaScript stand-in and rejects everything else, so a
 * malicious pickle cannot run code. Python values become: None -> null, bool -> boolean,
 * int -> number (bigint outside the safe-integer range), float -> number, str -> string, bytes -> Uint8Array,
 * tuple and list -> array, dict -> Map.
 */
import { CheckpointError } from '../errors';

/** Callbacks of the unpickler into its host: allow-listed globals and persistent objects. */
export interface UnpickleHooks {
  /** Returns the stand-in for `module.name`, or throws a CheckpointError when it is not allowed. */
  findGlobal(module: string, name: string): unknown;
  /** Returns the object a persistent id (BINPERSID) refers to. */
  persistentLoad(pid: unknown): unknown;
}

/** A Python callable stand-in that REDUCE can apply to an argument tuple. */
export interface PythonCallable {
  readonly qualifiedName: string;
  call(args: unknown[]): unknown;
}

function isCallable(value: unknown): value is PythonCallable {
  return typeof value === 'object' && value !== null && typeof (value as PythonCallable).call === 'function';
}

/**
 * Runs the pickle in `bytes` and returns the value STOP leaves on the stack. `file` names the
 * source in messages. Throws a CheckpointError on an unsupported opcode, a truncated or
 * malformed stream, or any global the hooks reject.
 */
export function unpickle(file: string, bytes: Uint8Array, hooks: UnpickleHooks): unknown {
  return new Unpickler(file, bytes, hooks).run();
}

class Unpickler {
  private readonly view: DataView;
  private position = 0;
  private stack: unknown[] = [];
  // MARK saves the current stack here and starts an empty one, as CPython's metastack does
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();

  constructor(
    private readonly file: string,
    private readonly bytes: Uint8Array,
    private readonly hooks: UnpickleHooks,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    for (;;) {
      const at = this.position;
      const opcode = this.u8();
      if (opcode === 0x2e) return this.pop(); // STOP '.'
      this.step(opcode, at);
    }
  }

  private step(opcode: number, at: number): void {
    switch (opcode) {
      // framing and protocol
      case 0x80: // PROTO
        this.checkProtocol(this.u8());
        return;
      case 0x95: // FRAME: an 8-byte frame length, meaningful only to streaming readers
        this.take(8);
        return;

      // constants
      case 0x4e: // NONE 'N'
        this.push(null);
        return;
      case 0x88: // NEWTRUE
        this.push(true);
        return;
      case 0x89: // NEWFALSE
        this.push(false);
        return;

      // integers and floats
      case 0x4b: // BININT1 'K'
        this.push(this.u8());
        return;
      case 0x4d: // BININT2 'M'
        this.push(this.u16());
        return;
      case 0x4a: // BININT 'J'
        this.push(this.i32());
        return;
      case 0x8a: // LONG1
        this.push(this.long(this.u8()));
        return;
      case 0x8b: // LONG4
        this.push(this.long(this.u32()));
        return;
      case 0x47: // BINFLOAT 'G' (big-endian, unlike every other number in a pickle)
        this.need(8);
        this.push(this.view.getFloat64(this.position, false));
        this.position += 8;
        return;

      // strings and bytes
      case 0x58: // BINUNICODE 'X'
        this.push(this.utf8(this.u32()));
        return;
      case 0x8c: // SHORT_BINUNICODE
        this.push(this.utf8(this.u8()));
        return;
      case 0x8d: // BINUNICODE8
        this.push(this.utf8(this.u64()));
        return;
      case 0x55: // SHORT_BINSTRING 'U' (a Python 2 str, decoded as latin-1 like Python 3 does)
        this.push(this.latin1(this.u8()));
        return;
      case 0x54: // BINSTRING 'T'
        this.push(this.latin1(this.u32()));
        return;
      case 0x43: // SHORT_BINBYTES 'C'
        this.push(this.take(this.u8()).slice());
        return;
      case 0x42: // BINBYTES 'B'
        this.push(this.take(this.u32()).slice());
        return;
      case 0x8e: // BINBYTES8
        this.push(this.take(this.u64()).slice());
        return;

      // tuples, lists and dicts
      case 0x28: // MARK '('
        this.marks.push(this.stack);
        this.stack = [];
        return;
      case 0x29: // EMPTY_TUPLE ')'
      case 0x5d: // EMPTY_LIST ']'
        this.push([]);
        return;
      case 0x7d: // EMPTY_DICT '}'
        this.push(new Map());
        return;
      case 0x74: // TUPLE 't'
      case 0x6c: // LIST 'l'
        this.push(this.popMark());
        return;
      case 0x85: // TUPLE1
        this.push([this.pop()]);
        return;
      case 0x86: {
        // TUPLE2
        const second = this.pop();
        this.push([this.pop(), second]);
        return;
      }
      case 0x87: {
        // TUPLE3
        const third = this.pop();
        const second = this.pop();
        this.push([this.pop(), second, third]);
        return;
      }
      case 0x64: // DICT 'd'
        this.push(this.pairsToMap(this.popMark(), new Map(), at));
        return;
      case 0x61: {
        // APPEND 'a'
        const item = this.pop();
        this.list(this.top(), at).push(item);
        return;
      }
      case 0x65: {
        // APPENDS 'e'
        const items = this.popMark();
        this.list(this.top(), at).push(...items);
        return;
      }
      case 0x73: {
        // SETITEM 's'
        const value = this.pop();
        const key = this.pop();
        this.dict(this.top(), at).set(key, value);
        return;
      }
      case 0x75: {
        // SETITEMS 'u'
        const items = this.popMark();
        this.pairsToMap(items, this.dict(this.top(), at), at);
        return;
      }

      // stack manipulation
      case 0x30: // POP '0'
        this.pop();
        return;
      case 0x31: // POP_MARK '1'
        this.popMark();
        return;
      case 0x32: // DUP '2'
        this.push(this.top());
        return;

      // memo
      case 0x71: // BINPUT 'q'
        this.memo.set(this.u8(), this.top());
        return;
      case 0x72: // LONG_BINPUT 'r'
        this.memo.set(this.u32(), this.top());
        return;
      case 0x94: // MEMOIZE
        this.memo.set(this.memo.size, this.top());
        return;
      case 0x68: // BINGET 'h'
        this.push(this.recall(this.u8(), at));
        return;
      case 0x6a: // LONG_BINGET 'j'
        this.push(this.recall(this.u32(), at));
        return;

      // globals, calls and persistent ids
      case 0x63: {
        // GLOBAL 'c': "module\nname\n"
        const module = this.line();
        const name = this.line();
        this.push(this.hooks.findGlobal(module, name));
        return;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') this.fail(at, 'STACK_GLOBAL needs two strings');
        this.push(this.hooks.findGlobal(module as string, name as string));
        return;
      }
      case 0x52: {
        // REDUCE 'R'
        const args = this.pop();
        const callable = this.pop();
        if (!isCallable(callable)) this.fail(at, 'REDUCE applied to a value that is not a callable global');
        if (!Array.isArray(args)) this.fail(at, `REDUCE arguments of ${(callable as PythonCallable).qualifiedName} are not a tuple`);
        this.push((callable as PythonCallable).call(args as unknown[]));
        return;
      }
      case 0x62: {
        // BUILD 'b'
        this.pop();
        // BUILD on a dict sets instance attributes (torch stores the `_metadata` of module
        // versions this way), which hold no tensors, so the state is dropped.
        if (!(this.top() instanceof Map)) this.fail(at, 'BUILD is only supported on dicts');
        return;
      }
      case 0x51: // BINPERSID 'Q'
        this.push(this.hooks.persistentLoad(this.pop()));
        return;

      default:
        this.fail(at, `unsupported pickle opcode 0x${opcode.toString(16).padStart(2, '0')} (${describeOpcode(opcode)})`);
    }
  }

  private checkProtocol(protocol: number): void {
    if (protocol < 2 || protocol > 5) {
      this.fail(this.position - 2, `pickle protocol ${protocol} is not supported; torch.save writes protocol 2 to 5`);
    }
  }

  // stack helpers

  private push(value: unknown): void {
    this.stack.push(value);
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail(this.position - 1, 'pickle stack underflow');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail(this.position - 1, 'pickle stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const previous = this.marks.pop();
    if (previous === undefined) this.fail(this.position - 1, 'opcode needs a MARK but none is open');
    this.stack = previous as unknown[];
    return items;
  }

  private recall(index: number, at: number): unknown {
    if (!this.memo.has(index)) this.fail(at, `memo entry ${index} was never stored`);
    return this.memo.get(index);
  }

  private list(value: unknown, at: number): unknown[] {
    if (!Array.isArray(value)) this.fail(at, 'APPEND target is not a list');
    return value as unknown[];
  }

  private dict(value: unknown, at: number): Map<unknown, unknown> {
    if (!(value instanceof Map)) this.fail(at, 'SETITEM target is not a dict');
    return value as Map<unknown, unknown>;
  }

  private pairsToMap(items: unknown[], target: Map<unknown, unknown>, at: number): Map<unknown, unknown> {
    if (items.length % 2 !== 0) this.fail(at, 'dict items come in an odd count');
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
    return target;
  }

  // byte readers (little-endian, as pickle stores every integer)

  private need(count: number): void {
    if (this.position + count > this.bytes.length) {
      this.fail(this.position, `pickle ends early: ${count} more bytes needed (truncated data.pkl?)`);
    }
  }

  private take(count: number): Uint8Array {
    this.need(count);
    const slice = this.bytes.subarray(this.position, this.position + count);
    this.position += count;
    return slice;
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.position++];
  }

  private u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.position, true);
    this.position += 2;
    return value;
  }

  private i32(): number {
    this.need(4);
    const value = this.view.getInt32(this.position, true);
    this.position += 4;
    return value;
  }

  private u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.position, true);
    this.position += 4;
    return value;
  }

  private u64(): number {
    this.need(8);
    const value = this.view.getBigUint64(this.position, true);
    this.position += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(this.position - 8, 'length field beyond 2^53');
    return Number(value);
  }

  /** Decodes a little-endian two's-complement integer of `count` bytes (LONG1, LONG4). */
  private long(count: number): number | bigint {
    const bytes = this.take(count);
    let value = 0n;
    for (let i = count - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
    if (count > 0 && bytes[count - 1] & 0x80) value -= 1n << BigInt(8 * count);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private utf8(count: number): string {
    return Buffer.from(this.take(count)).toString('utf8');
  }

  private latin1(count: number): string {
    return Buffer.from(this.take(count)).toString('latin1');
  }

  /** Reads a newline-terminated ASCII line (the text arguments of GLOBAL). */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) this.fail(this.position, 'GLOBAL name is not newline-terminated (truncated data.pkl?)');
    const text = Buffer.from(this.bytes.subarray(this.position, end)).toString('latin1');
    this.position = end + 1;
    return text;
  }

  private fail(at: number, problem: string): never {
    throw new CheckpointError(this.file, `${problem} at byte ${at} of data.pkl`);
  }
}

/** Returns the name of an opcode this unpickler rejects, so the error message names what was found. */
function describeOpcode(opcode: number): string {
  const names: Record<number, string> = {
    0x49: 'INT, a text opcode of protocol 0',
    0x4c: 'LONG, a text opcode of protocol 0',
    0x46: 'FLOAT, a text opcode of protocol 0',
    0x53: 'STRING, a text opcode of protocol 0',
    0x56: 'UNICODE, a text opcode of protocol 0',
    0x50: 'PERSID, a text opcode of protocol 0',
    0x70: 'PUT, a text opcode of protocol 0',
    0x67: 'GET, a text opcode of protocol 0',
    0x69: 'INST',
    0x6f: 'OBJ',
    0x81: 'NEWOBJ',
    0x92: 'NEWOBJ_EX',
    0x8f: 'EMPTY_SET',
    0x90: 'ADDITEMS',
    0x91: 'FROZENSET',
    0x82: 'EXT1',
    0x83: 'EXT2',
    0x84: 'EXT4',
    0x96: 'BYTEARRAY8',
    0x97: 'NEXT_BUFFER',
    0x98: 'READONLY_BUFFER',
  };
  return names[opcode] ?? 'not a pickle opcode';
}
