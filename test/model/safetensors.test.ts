// Runs in Node and in Chromium: no Node-only imports here.
import { describe, expect, it } from 'vitest';
import { FileFormatError, ShapeError } from '../../src/errors';
import {
  decodeSafetensors,
  encodeSafetensors,
  f32Tensor,
  tensorToF32,
  type SafeTensor,
} from '../../src/model/safetensors';

const FILE = 'model.safetensors';

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

function ascii(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

// A file from a header given as JSON text (padded with spaces to 8 bytes
// unless told otherwise) and a data section, for hand-made and corrupted
// variants of valid files.
function assemble(
  headerText: string,
  data: Uint8Array,
  pad = true,
): Uint8Array {
  let text = headerText;
  if (pad) text += ' '.repeat((8 - (text.length % 8)) % 8);
  const header = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function splitFile(bytes: Uint8Array): { header: any; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  return { header: JSON.parse(text), data: bytes.slice(8 + n) };
}

function sampleTensors(): Record<string, SafeTensor> {
  return {
    'conv1.weight': f32Tensor(
      [3, 3, 1, 2],
      Float32Array.from({ length: 18 }, (_, i) => i * 0.25 - 2),
    ),
    'dense.bias': f32Tensor([3], new Float32Array([1e-7, -0, 3.5e38])),
    f64: {
      dtype: 'F64',
      shape: [2],
      data: bytesOf(new Float64Array([Math.PI, -1e300])),
    },
    i32: {
      dtype: 'I32',
      shape: [2, 2],
      data: bytesOf(new Int32Array([-1, 2, -2147483648, 2147483647])),
    },
    u32: {
      dtype: 'U32',
      shape: [1],
      data: bytesOf(new Uint32Array([4294967295])),
    },
    i64: {
      dtype: 'I64',
      shape: [2],
      data: bytesOf(new BigInt64Array([-5n, 1n << 62n])),
    },
    u8: {
      dtype: 'U8',
      shape: [5],
      data: new Uint8Array([0, 1, 127, 128, 255]),
    },
    f16: {
      dtype: 'F16',
      shape: [2, 1],
      data: new Uint8Array([0x00, 0x3c, 0x00, 0xc0]),
    },
    scalar: f32Tensor([], new Float32Array([42])),
    empty: f32Tensor([0], new Float32Array(0)),
    'empty.u8': { dtype: 'U8', shape: [2, 0, 3], data: new Uint8Array(0) },
  };
}

// A valid two-tensor file for the corruption tests: "a" F32 [2] at [0, 8],
// "b" U8 [3] at [8, 11].
function validFile(): Uint8Array {
  return encodeSafetensors({
    a: f32Tensor([2], new Float32Array([1, 2])),
    b: { dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) },
  });
}

function withHeader(
  edit: (header: any) => void,
  data?: Uint8Array,
): Uint8Array {
  const parts = splitFile(validFile());
  edit(parts.header);
  return assemble(JSON.stringify(parts.header), data ?? parts.data);
}

function formatError(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FileFormatError);
    expect((e as FileFormatError).file).toBe(FILE);
    return e as FileFormatError;
  }
  throw new Error('expected a FileFormatError, nothing was thrown');
}

describe('safetensors round trip', () => {
  it('decodes what it encodes, for every dtype and odd shapes', () => {
    const tensors = sampleTensors();
    const metadata = { format: 'pt', 'wgsl-nn': 'ünïcode ✓' };
    const bytes = encodeSafetensors(tensors, metadata);
    const back = decodeSafetensors(bytes, FILE);
    expect(back.metadata).toEqual(metadata);
    expect(Object.keys(back.tensors).sort()).toEqual(
      Object.keys(tensors).sort(),
    );
    for (const [name, t] of Object.entries(tensors)) {
      const got = back.tensors[name];
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      expect(Array.from(got.data), name).toEqual(Array.from(t.data));
    }
    // Floats come back bit for bit, including -0 and the extremes.
    expect(
      Array.from(tensorToF32(back.tensors['dense.bias'], 'dense.bias', FILE)),
    ).toEqual([Math.fround(1e-7), -0, Math.fround(3.5e38)]);
    expect(
      Object.is(
        tensorToF32(back.tensors['dense.bias'], 'dense.bias', FILE)[1],
        -0,
      ),
    ).toBe(true);
    expect(tensorToF32(back.tensors.scalar, 'scalar', FILE)).toEqual(
      new Float32Array([42]),
    );
    expect(tensorToF32(back.tensors.empty, 'empty', FILE).length).toBe(0);
  });

  it('writes a header padded to 8 bytes, tensors in name order', () => {
    const bytes = encodeSafetensors(sampleTensors());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const { header } = splitFile(bytes);
    expect(header.__metadata__).toBeUndefined();
    const names = Object.keys(header);
    expect(names).toEqual([...names].sort());
    let offset = 0;
    for (const name of names) {
      expect(header[name].data_offsets[0], name).toBe(offset);
      offset = header[name].data_offsets[1];
    }
    expect(bytes.length).toBe(8 + n + offset);
  });

  it('gives the same bytes whatever the insertion order', () => {
    const tensors = sampleTensors();
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    expect(encodeSafetensors(reversed, { z: '1', a: '2' })).toEqual(
      encodeSafetensors(tensors, { a: '2', z: '1' }),
    );
  });

  it('encodes a tiny file byte for byte', () => {
    const bytes = encodeSafetensors({
      w: f32Tensor([2], new Float32Array([1, -2])),
    });
    // {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes,
    // padded with 2 spaces to 56 = 0x38.
    const expected = [
      ...[0x38, 0, 0, 0, 0, 0, 0, 0],
      ...ascii('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  '),
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0f = 0x3f800000, little-endian
      ...[0x00, 0x00, 0x00, 0xc0], // -2.0f = 0xc0000000
    ];
    expect(Array.from(bytes)).toEqual(expected);
  });

  it('encodes metadata, a scalar and an empty tensor byte for byte', () => {
    const bytes = encodeSafetensors(
      {
        s: { dtype: 'U8', shape: [], data: new Uint8Array([9]) },
        e: { dtype: 'I32', shape: [0, 4], data: new Uint8Array(0) },
      },
      { k: 'v' },
    );
    // 26 + 55 + 51 = 132 bytes of JSON, padded with 4 spaces to 136 = 0x88.
    const json =
      '{"__metadata__":{"k":"v"},' +
      '"e":{"dtype":"I32","shape":[0,4],"data_offsets":[0,0]},' +
      '"s":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}    ';
    expect(json.length).toBe(136);
    expect(Array.from(bytes)).toEqual([
      ...[0x88, 0, 0, 0, 0, 0, 0, 0],
      ...ascii(json),
      9,
    ]);
  });

  it('writes what the reference (Rust/Python) writer writes', () => {
    // The reference serializer emits compact JSON, "__metadata__" first,
    // then dtype, shape, data_offsets, space-padded to 8 bytes; its own tests
    // pin these outputs for an empty file, one with metadata only, and one
    // F32 tensor "attn0" of shape [1, 1, 2, 3] holding 0..5.
    expect(Array.from(encodeSafetensors({}))).toEqual([
      ...[8, 0, 0, 0, 0, 0, 0, 0],
      ...ascii('{}      '),
    ]);
    expect(Array.from(encodeSafetensors({}, { framework: 'pt' }))).toEqual([
      ...[40, 0, 0, 0, 0, 0, 0, 0],
      ...ascii('{"__metadata__":{"framework":"pt"}}     '),
    ]);
    const values = new Float32Array([0, 1, 2, 3, 4, 5]);
    expect(
      Array.from(encodeSafetensors({ attn0: f32Tensor([1, 1, 2, 3], values) })),
    ).toEqual([
      ...[72, 0, 0, 0, 0, 0, 0, 0],
      ...ascii(
        '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}' +
          ' '.repeat(7),
      ),
      ...bytesOf(values),
    ]);
  });

  it('reads a file written in another key and offset order', () => {
    // Writers may order keys freely; the Python library lays out data by
    // dtype alignment, not by name.
    const data = new Uint8Array(10);
    new DataView(data.buffer).setFloat64(0, -0.5, true);
    data.set([3, 4], 8);
    const bytes = assemble(
      '{"z":{"data_offsets":[0,8],"shape":[],"dtype":"F64"},\n' +
        ' "a":{"shape":[2],"dtype":"U8","data_offsets":[8,10]},\n' +
        ' "__metadata__":{"format":"np"}}',
      data,
    );
    const { tensors, metadata } = decodeSafetensors(bytes, FILE);
    expect(metadata).toEqual({ format: 'np' });
    expect(tensors.z.shape).toEqual([]);
    expect(
      new DataView(tensors.z.data.slice().buffer).getFloat64(0, true),
    ).toBe(-0.5);
    expect(Array.from(tensors.a.data)).toEqual([3, 4]);
  });

  it('reads from an ArrayBuffer and from a misaligned view', () => {
    const bytes = encodeSafetensors({
      w: f32Tensor([3], new Float32Array([0.1, 0.2, 0.3])),
    });
    const fromBuffer = decodeSafetensors(bytes.slice().buffer, FILE);
    expect(tensorToF32(fromBuffer.tensors.w, 'w', FILE)).toEqual(
      new Float32Array([0.1, 0.2, 0.3]),
    );
    // Float32Array cannot view bytes at an odd offset; tensorToF32 copies.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const fromView = decodeSafetensors(shifted.subarray(1), FILE);
    expect(fromView.tensors.w.data.byteOffset % 4).not.toBe(0);
    expect(tensorToF32(fromView.tensors.w, 'w', FILE)).toEqual(
      new Float32Array([0.1, 0.2, 0.3]),
    );
  });

  it('keeps a tensor named __proto__ as data', () => {
    const bytes = encodeSafetensors({
      ['__proto__']: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) },
    } as Record<string, SafeTensor>);
    const { tensors } = decodeSafetensors(bytes, FILE);
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
  });
});

describe('safetensors helpers and encoder checks', () => {
  it('tensorToF32 rejects other dtypes, naming tensor and file', () => {
    const t: SafeTensor = { dtype: 'F64', shape: [1], data: new Uint8Array(8) };
    const e = formatError(() => tensorToF32(t, 'dense.kernel', FILE));
    expect(e.message).toBe(
      'model.safetensors: tensor "dense.kernel" is F64, expected F32',
    );
  });

  it('f32Tensor checks the shape against the values', () => {
    expect(() => f32Tensor([2, 2], new Float32Array(3))).toThrow(ShapeError);
    expect(() => f32Tensor([-1], new Float32Array(0))).toThrow(
      /f32Tensor: shape/,
    );
  });

  it('encodeSafetensors refuses inconsistent tensors and the reserved name', () => {
    expect(() =>
      encodeSafetensors({
        x: { dtype: 'F32', shape: [2], data: new Uint8Array(4) },
      }),
    ).toThrow(/tensor x: F32 \[2\] needs 8 bytes, data has 4/);
    expect(() =>
      encodeSafetensors({
        __metadata__: { dtype: 'U8', shape: [], data: new Uint8Array(1) },
      }),
    ).toThrow(ShapeError);
  });
});

describe('safetensors rejects corrupt files', () => {
  it('accepts the uncorrupted file', () => {
    const { tensors } = decodeSafetensors(validFile(), FILE);
    expect(Object.keys(tensors)).toEqual(['a', 'b']);
  });

  it('fewer than 8 bytes', () => {
    expect(
      formatError(() => decodeSafetensors(validFile().subarray(0, 7), FILE))
        .message,
    ).toMatch(/not a safetensors file: 7 bytes/);
  });

  it('a header length beyond the file', () => {
    const bytes = validFile();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length - 7), true);
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /header length \d+ runs past the end of the file/,
    );
    new DataView(bytes.buffer).setBigUint64(0, 1n << 63n, true);
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /header length 9223372036854775808 runs past/,
    );
  });

  it('a header that is not UTF-8', () => {
    const bytes = validFile();
    bytes[10] = 0xff; // inside the name "a"
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /header is not valid UTF-8/,
    );
  });

  it('a header that is not JSON, or not an object', () => {
    const bytes = validFile();
    const close = bytes.lastIndexOf(0x7d, 8 + splitFileLength(bytes));
    bytes[close] = 0x20;
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /header is not valid JSON/,
    );
    expect(
      formatError(() =>
        decodeSafetensors(assemble('[1,2]', new Uint8Array()), FILE),
      ).message,
    ).toMatch(/header is not a JSON object/);
  });

  for (const key of ['dtype', 'shape', 'data_offsets']) {
    it(`a tensor entry without ${key}`, () => {
      const bytes = withHeader((h) => delete h.b[key]);
      expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toBe(
        `model.safetensors: tensor "b": missing ${key}`,
      );
    });
  }

  it('an entry that is not an object', () => {
    const bytes = withHeader((h) => (h.b = [1]));
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /tensor "b": entry is not an object/,
    );
  });

  it('an unknown dtype', () => {
    const bytes = withHeader((h) => (h.b.dtype = 'Q8'));
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /tensor "b": unsupported dtype "Q8"/,
    );
  });

  it('a negative or non-integer dimension', () => {
    for (const shape of [[-3], [1.5, 2], ['3'], 3]) {
      const bytes = withHeader((h) => (h.b.shape = shape));
      expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
        /tensor "b": shape .* is not a list of non-negative integers/,
      );
    }
  });

  it('malformed data_offsets', () => {
    for (const offsets of [[8], [11, 8], [-1, 2], [8, 11.5]]) {
      const bytes = withHeader((h) => (h.b.data_offsets = offsets));
      expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
        /tensor "b": data_offsets .* is not \[begin, end\]/,
      );
    }
  });

  it('offsets out of range', () => {
    const bytes = withHeader((h) => (h.b.data_offsets = [9, 12]));
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /tensor "b": data_offsets \[9, 12\] out of range: the data section has 11 bytes/,
    );
  });

  it('offsets that do not match shape and dtype', () => {
    const bytes = withHeader((h) => (h.b.shape = [2]));
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /tensor "b": data_offsets \[8, 11\] cover 3 bytes, U8 \[2\] needs 2/,
    );
    const wide = withHeader((h) => (h.b.dtype = 'F16'));
    expect(formatError(() => decodeSafetensors(wide, FILE)).message).toMatch(
      /cover 3 bytes, F16 \[3\] needs 6/,
    );
  });

  it('overlapping tensors', () => {
    const bytes = withHeader((h) => {
      h.b.data_offsets = [5, 8];
    });
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /tensor "b" at \[5, 8\] overlaps tensor "a" ending at 8/,
    );
  });

  it('a hole between tensors', () => {
    const data = new Uint8Array(12);
    const bytes = withHeader((h) => (h.b.data_offsets = [9, 12]), data);
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /bytes \[8, 9\) of the data section belong to no tensor/,
    );
    const first = withHeader((h) => {
      h.a.data_offsets = [1, 9];
      h.b.data_offsets = [9, 12];
    }, data);
    expect(formatError(() => decodeSafetensors(first, FILE)).message).toMatch(
      /bytes \[0, 1\) .* before "a"/,
    );
  });

  it('a data section larger than the tensors cover', () => {
    const valid = validFile();
    const longer = new Uint8Array(valid.length + 3);
    longer.set(valid);
    expect(formatError(() => decodeSafetensors(longer, FILE)).message).toMatch(
      /the data section has 14 bytes but the tensors cover only 11/,
    );
  });

  it('metadata that is not a map of strings', () => {
    const bytes = withHeader((h) => (h.__metadata__ = { epochs: 3 }));
    expect(formatError(() => decodeSafetensors(bytes, FILE)).message).toMatch(
      /__metadata__.epochs is 3, not a string/,
    );
  });
});

function splitFileLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer).getBigUint64(0, true));
}
