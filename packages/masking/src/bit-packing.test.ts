import {
  countRetained,
  countRetainedInBoth,
  countRetainedInEither,
  isRetained,
  maskToFloat32,
  packedLayoutProblem,
  packMask,
  unpackMask,
} from './bit-packing';

describe('packMask', () => {
  it('puts entry 0 in the lowest bit', () => {
    const mask = packMask([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [2, 5]);
    expect(Array.from(mask.bits)).toEqual([0b00000001, 0b00000010]);
  });

  it('keeps only values greater than zero', () => {
    const mask = packMask([0.5, 0, -0, -1, NaN, 1e-30, 2, Infinity], [8]);
    expect(Array.from(unpackMask(mask))).toEqual([1, 0, 0, 0, 0, 1, 1, 1]);
  });

  it('round-trips through unpack for odd sizes', () => {
    for (const size of [1, 7, 8, 9, 63, 64, 65]) {
      const values = Array.from({ length: size }, (_, i) => ((i * 7919) % 3 === 0 ? 1 : 0));
      const mask = packMask(values, [size]);
      expect(mask.bits.length).toBe(Math.ceil(size / 8));
      expect(Array.from(unpackMask(mask))).toEqual(values);
      expect(Array.from(maskToFloat32(mask))).toEqual(values);
      expect(countRetained(mask)).toBe(values.filter((v) => v === 1).length);
      expect(packedLayoutProblem(mask)).toBeUndefined();
    }
  });

  it('rejects a value count that misses the shape', () => {
    expect(() => packMask([1, 0, 1], [2, 2])).toThrow('Cannot pack 3 mask values into shape [2, 2] (4 entries)');
  });
});

describe('mask queries', () => {
  const a = packMask([1, 1, 0, 0, 1, 0, 1, 0, 1], [9]);
  const b = packMask([1, 0, 1, 0, 1, 1, 0, 0, 1], [9]);

  it('isRetained reads single entries', () => {
    expect([0, 1, 2, 8].map((i) => isRetained(a, i))).toEqual([true, true, false, true]);
  });

  it('counts intersection and union', () => {
    expect(countRetainedInBoth(a, b)).toBe(3);
    expect(countRetainedInEither(a, b)).toBe(7);
  });
});

describe('packedLayoutProblem', () => {
  it('reports a byte count that misses the shape', () => {
    expect(packedLayoutProblem({ shape: [3, 3], bits: new Uint8Array(1) })).toBe(
      '1 packed bytes do not fit shape [3, 3], which needs 2 bytes for 9 entries',
    );
  });

  it('reports set padding bits', () => {
    expect(packedLayoutProblem({ shape: [9], bits: new Uint8Array([0, 0b10]) })).toBe('bits past the last of 9 entries are set');
  });
});
