import { CheckpointError } from '../errors';
import { unpickle, type UnpickleHooks } from './pickle';

// Produced by CPython 3.11 `pickle.dumps(value, protocol=p).hex()` for
// value = {'ints': [0, 255, 256, 65535, 65536, -1, 2**31-1, -2**31, 2**40, -2**40, 2**53, 2**70, -2**70],
//          'float': [1.5, -0.0, 1e300], 'none': None, 'bools': (True, False), 'text': 'café ☃',
//          'nested': [(1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), []], 'shared': (s, s)} with s = [7, 8].
const PICKLES: [number, string][] = [
  [
    2,
    '80027d7100285804000000696e747371015d7102284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a060000000000ff8a07000000000000208a090000000000000000408a090000000000000000c0655805000000666c6f617471035d710428473ff8000000000000478000000000000000477e37e43c8800759c6558040000006e6f6e6571054e5805000000626f6f6c737106888986710758040000007465787471085809000000636166c3a920e29883710958060000006e6573746564710a5d710b284b0185710c4b014b0286710d4b014b024b0387710e284b014b024b034b0474710f5d711065580600000073686172656471115d7112284b074b08656812867113752e',
  ],
  [
    4,
    '800495f9000000000000007d94288c04696e7473945d94284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a060000000000ff8a07000000000000208a090000000000000000408a090000000000000000c0658c05666c6f6174945d9428473ff8000000000000478000000000000000477e37e43c8800759c658c046e6f6e65944e8c05626f6f6c7394888986948c0474657874948c09636166c3a920e29883948c0562797465739443027879948c066e6573746564945d94284b0185944b014b0286944b014b024b038794284b014b024b034b0474945d94658c06736861726564945d94284b074b086568148694752e',
  ],
  [
    5,
    '800595f9000000000000007d94288c04696e7473945d94284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a060000000000ff8a07000000000000208a090000000000000000408a090000000000000000c0658c05666c6f6174945d9428473ff8000000000000478000000000000000477e37e43c8800759c658c046e6f6e65944e8c05626f6f6c7394888986948c0474657874948c09636166c3a920e29883948c0562797465739443027879948c066e6573746564945d94284b0185944b014b0286944b014b024b038794284b014b024b034b0474945d94658c06736861726564945d94284b074b086568148694752e',
  ],
];

const noGlobals: UnpickleHooks = {
  findGlobal: (module, name) => {
    throw new CheckpointError('test.pkl', `global ${module}.${name} is not allowed`);
  },
  persistentLoad: () => {
    throw new CheckpointError('test.pkl', 'no persistent ids expected');
  },
};

describe('unpickle', () => {
  // 2**53 is the first integer past Number.MAX_SAFE_INTEGER, so it stays a bigint
  it.each(PICKLES)('protocol %i decodes CPython output', (_protocol, hex) => {
    const value = unpickle('test.pkl', Buffer.from(hex, 'hex'), noGlobals) as Map<string, unknown>;

    expect(value.get('ints')).toEqual([
      0,
      255,
      256,
      65535,
      65536,
      -1,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 40,
      -(2 ** 40),
      2n ** 53n,
      2n ** 70n,
      -(2n ** 70n),
    ]);
    expect(value.get('float')).toEqual([1.5, -0, 1e300]);
    expect(Object.is((value.get('float') as number[])[1], -0)).toBe(true);
    expect(value.get('none')).toBeNull();
    expect(value.get('bools')).toEqual([true, false]);
    expect(value.get('text')).toBe('café ☃');
    expect(value.get('nested')).toEqual([[1], [1, 2], [1, 2, 3], [1, 2, 3, 4], []]);

    // both tuple entries are the one memoized list
    const shared = value.get('shared') as number[][];
    expect(shared[0]).toEqual([7, 8]);
    expect(shared[1]).toBe(shared[0]);
  });

  it('decodes bytes of protocol 3 and later', () => {
    const value = unpickle('test.pkl', Buffer.from(PICKLES[1][1], 'hex'), noGlobals) as Map<string, unknown>;
    expect(Array.from(value.get('bytes') as Uint8Array)).toEqual([0x78, 0x79]);
  });

  it('asks the hooks for every global', () => {
    // CPython: pickle.dumps(collections.OrderedDict([('a', 1)]), protocol=2)
    const bytes = Buffer.from('800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000006171024b01732e', 'hex');
    const requested: string[] = [];
    const value = unpickle('test.pkl', bytes, {
      ...noGlobals,
      findGlobal: (module, name) => {
        requested.push(`${module}.${name}`);
        return { qualifiedName: `${module}.${name}`, call: () => new Map() };
      },
    });
    expect(requested).toEqual(['collections.OrderedDict']);
    expect(value).toEqual(new Map([['a', 1]]));
  });

  const bad: [string, string, RegExp][] = [
    ['rejected global', '8002636f730a73797374656d0a2e', /global os\.system is not allowed/],
    ['protocol 1', '80017d2e', /pickle protocol 1 is not supported/],
    ['stack underflow', '8002742e', /opcode needs a MARK but none is open/],
    ['memo miss', '800268052e', /memo entry 5 was never stored/],
    ['missing STOP', '80024b01', /pickle ends early/],
    ['unknown byte', '8002ff2e', /unsupported pickle opcode 0xff \(not a pickle opcode\)/],
    ['NEWOBJ', '8002812e', /unsupported pickle opcode 0x81 \(NEWOBJ\)/],
  ];

  it.each(bad)('%s gives a CheckpointError', (_name, hex, pattern) => {
    let caught: unknown;
    try {
      unpickle('test.pkl', Buffer.from(hex, 'hex'), noGlobals);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as Error).message).toMatch(pattern);
  });
});
