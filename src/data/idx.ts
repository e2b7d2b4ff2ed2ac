// The IDX format of the original MNIST files:
//   bytes 0..1  zero
//   byte  2     element type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
//               0x0D f32, 0x0E f64)
//   byte  3     number of dimensions
//   then one big-endian u32 per dimension, then the payload, row-major and
//   big-endian for multi-byte types.
// A download that was cut short or is still gzip-compressed is the usual way
// these files go wrong, so every check says what it expected and what it found.

import { FileFormatError } from '../errors';

export type IdxType = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';

export interface IdxTensor {
  type: IdxType;
  dims: number[];
  /** Raw payload bytes (a view into the input), big-endian for multi-byte types. */
  data: Uint8Array;
}

const TYPE_CODES: Record<number, { type: IdxType; size: number }> = {
  0x08: { type: 'u8', size: 1 },
  0x09: { type: 'i8', size: 1 },
  0x0b: { type: 'i16', size: 2 },
  0x0c: { type: 'i32', size: 4 },
  0x0d: { type: 'f32', size: 4 },
  0x0e: { type: 'f64', size: 8 },
};

const hex = (b: number) => '0x' + b.toString(16).padStart(2, '0');

/** What a caller expects of a file: checked right after the header is read. */
export interface IdxExpect {
  type?: IdxType;
  ndim?: number;
  /** What the file should hold, for messages: 'MNIST labels (u8, 1 dim)'. */
  what?: string;
}

export function parseIdx(
  input: Uint8Array | ArrayBuffer,
  file: string,
  expect: IdxExpect = {},
): IdxTensor {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const fail = (what: string): never => {
    throw new FileFormatError(file, what);
  };

  if (bytes.length < 4) {
    fail(
      `not an IDX file: ${bytes.length} bytes, the header alone needs at least 4`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    // 1f 8b is the gzip magic: the files are often distributed as .gz.
    const gzip =
      bytes[0] === 0x1f && bytes[1] === 0x8b
        ? ' (this is a gzip file: decompress it first)'
        : '';
    fail(
      `not an IDX file: magic bytes are ${hex(bytes[0])} ${hex(bytes[1])}, expected 0x00 0x00${gzip}`,
    );
  }
  const code = TYPE_CODES[bytes[2]];
  if (code === undefined) {
    fail(
      `unknown IDX type code ${hex(bytes[2])} (known: 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64)`,
    );
  }
  const { type, size } = code;
  const ndim = bytes[3];
  if (ndim === 0) fail('IDX header declares 0 dimensions');

  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    fail(
      `header truncated: ${ndim} dimensions need a ${headerBytes}-byte header, the file has ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) {
    dims.push(view.getUint32(4 + 4 * i, false));
  }
  // Before any size is computed from them: a wrong type code or dimension
  // count would otherwise read as "truncated" or "trailing bytes".
  if (
    (expect.type !== undefined && type !== expect.type) ||
    (expect.ndim !== undefined && ndim !== expect.ndim)
  ) {
    const want =
      expect.what ??
      [expect.type, expect.ndim !== undefined ? `${expect.ndim} dims` : '']
        .filter((x) => x)
        .join(', ');
    fail(
      `expected ${want}, found ${type} with dims ${dims.join('x')} (type code ${hex(bytes[2])})`,
    );
  }
  const zero = dims.indexOf(0);
  if (zero >= 0) fail(`dimension ${zero} is 0 (dims ${dims.join('x')})`);

  // Each dim < 2^32 and ndim <= 255, so the product can exceed 2^53 and lose
  // precision, but only for sizes far beyond any real file: the comparison
  // below still reports "truncated" for those.
  const expected = dims.reduce((a, b) => a * b, 1) * size;
  const present = bytes.length - headerBytes;
  const shape = `${dims.join('x')} ${type}`;
  if (present < expected) {
    fail(
      `truncated: the payload (${shape}) needs ${expected} bytes, the file has ${present} after the ${headerBytes}-byte header`,
    );
  }
  if (present > expected) {
    fail(
      `${present - expected} trailing bytes after the payload (${shape}, ${expected} bytes)`,
    );
  }
  return { type, dims, data: bytes.subarray(headerBytes) };
}
