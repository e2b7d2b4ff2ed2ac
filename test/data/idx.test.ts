import { describe, expect, it } from 'vitest';
import { parseIdx } from '../../src/data/idx';
import { FileFormatError } from '../../src/errors';

const FILE = 'synthetic-idx3-ubyte';

// An IDX file built byte by byte: magic, type code, ndim, big-endian dims,
// then `payload` bytes (defaulting to exactly what the dims need).
function idx(code: number, dims: number[], payload?: Uint8Array): Uint8Array {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[
    code
  ] as number;
  const body =
    payload ??
    Uint8Array.from(
      { length: dims.reduce((a, b) => a * b, 1) * size },
      (_, i) => (i * 7) & 0xff,
    );
  const out = new Uint8Array(4 + 4 * dims.length + body.length);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(body, 4 + 4 * dims.length);
  return out;
}

function formatError(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FileFormatError);
    return e as FileFormatError;
  }
  throw new Error('expected a FileFormatError, nothing was thrown');
}

describe('parseIdx', () => {
  it('reads a u8 tensor and returns a view of its payload', () => {
    const bytes = idx(0x08, [2, 3, 4]);
    const t = parseIdx(bytes, FILE);
    expect(t.type).toBe('u8');
    expect(t.dims).toEqual([2, 3, 4]);
    expect(t.data.length).toBe(24);
    expect(t.data.buffer).toBe(bytes.buffer);
    expect(t.data.byteOffset).toBe(16);
    expect(Array.from(t.data.subarray(0, 4))).toEqual([0, 7, 14, 21]);
  });

  it('knows every type code and its element size', () => {
    const cases = [
      [0x08, 'u8', 1],
      [0x09, 'i8', 1],
      [0x0b, 'i16', 2],
      [0x0c, 'i32', 4],
      [0x0d, 'f32', 4],
      [0x0e, 'f64', 8],
    ] as const;
    for (const [code, type, size] of cases) {
      const t = parseIdx(idx(code, [3, 5]), FILE);
      expect(t.type).toBe(type);
      expect(t.data.length).toBe(15 * size);
    }
  });

  it('keeps multi-byte payloads big-endian', () => {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setFloat32(0, 1.5, false);
    new DataView(payload.buffer).setFloat32(4, -2, false);
    const t = parseIdx(idx(0x0d, [2], payload), FILE);
    expect(Array.from(t.data)).toEqual([0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0]);
  });

  it('accepts an ArrayBuffer and a Uint8Array at an offset', () => {
    const bytes = idx(0x08, [4]);
    expect(parseIdx(bytes.slice().buffer, FILE).dims).toEqual([4]);
    const padded = new Uint8Array(3 + bytes.length);
    padded.set(bytes, 3);
    const t = parseIdx(padded.subarray(3), FILE);
    expect(Array.from(t.data)).toEqual([0, 7, 14, 21]);
  });

  it('rejects a file shorter than the 4-byte header', () => {
    const e = formatError(() => parseIdx(new Uint8Array([0, 0, 8]), FILE));
    expect(e.file).toBe(FILE);
    expect(e.message).toMatch(
      /^synthetic-idx3-ubyte: not an IDX file: 3 bytes/,
    );
  });

  it('rejects non-zero magic bytes and recognises gzip', () => {
    const bytes = idx(0x08, [2]);
    bytes[1] = 0x01;
    expect(formatError(() => parseIdx(bytes, FILE)).message).toMatch(
      /magic bytes are 0x00 0x01, expected 0x00 0x00/,
    );
    const gz = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);
    expect(formatError(() => parseIdx(gz, FILE)).message).toMatch(
      /gzip file: decompress it first/,
    );
  });

  it('rejects an unknown type code', () => {
    const bytes = idx(0x08, [2]);
    bytes[2] = 0x0a;
    expect(formatError(() => parseIdx(bytes, FILE)).message).toMatch(
      /unknown IDX type code 0x0a/,
    );
  });

  it('rejects zero dimensions', () => {
    expect(
      formatError(() => parseIdx(new Uint8Array([0, 0, 8, 0, 1, 2]), FILE))
        .message,
    ).toMatch(/declares 0 dimensions/);
  });

  it('rejects a header shorter than its declared dimensions', () => {
    const bytes = idx(0x08, [2, 2, 2]).subarray(0, 10);
    expect(formatError(() => parseIdx(bytes, FILE)).message).toMatch(
      /header truncated: 3 dimensions need a 16-byte header, the file has 10 bytes/,
    );
  });

  it('rejects a zero dimension', () => {
    expect(
      formatError(() => parseIdx(idx(0x08, [5, 0, 3], new Uint8Array()), FILE))
        .message,
    ).toMatch(/dimension 1 is 0 \(dims 5x0x3\)/);
  });

  it('reports a truncated payload with expected and present sizes', () => {
    const bytes = idx(0x0b, [10, 3]);
    const e = formatError(() =>
      parseIdx(bytes.subarray(0, bytes.length - 5), FILE),
    );
    expect(e.message).toMatch(
      /truncated: the payload \(10x3 i16\) needs 60 bytes, the file has 55 after the 12-byte header/,
    );
  });

  it('rejects trailing bytes after the payload', () => {
    const bytes = idx(0x08, [2, 2], new Uint8Array(7));
    expect(formatError(() => parseIdx(bytes, FILE)).message).toMatch(
      /3 trailing bytes after the payload \(2x2 u8, 4 bytes\)/,
    );
  });
});
