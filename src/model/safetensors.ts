// The safetensors checkpoint format, so that weights trained here load in the
// Python `safetensors` library (and so in PyTorch, JAX, Keras) and back:
//   8 bytes      N, little-endian u64
//   N bytes      UTF-8 JSON header:
//                {"__metadata__"?: {string: string},
//                 name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
//                padded with spaces so the data starts 8-byte aligned
//   the rest     the byte buffer; offsets are relative to its start, the
//                tensors tile it exactly (no holes, no overlaps, nothing after
//                the last one), every element little-endian, row-major.
// The decoder enforces the same rules as the reference implementation, so a
// file that loads here also loads there.

import { FileFormatError, ShapeError } from '../errors';

export type SafeDtype = 'F32' | 'F64' | 'I32' | 'U32' | 'I64' | 'U8' | 'F16';

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** Little-endian raw bytes, prod(shape) * dtypeSize long. */
  data: Uint8Array;
}

const DTYPE_SIZE: Record<SafeDtype, number> = {
  F32: 4,
  F64: 8,
  I32: 4,
  U32: 4,
  I64: 8,
  U8: 1,
  F16: 2,
};

const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(d: unknown): d is SafeDtype {
  return typeof d === 'string' && Object.hasOwn(DTYPE_SIZE, d);
}

function isDim(d: unknown): d is number {
  return typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function encodeSafetensors(
  tensors: Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const where = 'encodeSafetensors';
  // Sorted by name so that the same weights always give the same bytes.
  const names = Object.keys(tensors).sort(byCodeUnits);
  const entries: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    const pairs: string[] = [];
    for (const k of Object.keys(metadata).sort(byCodeUnits)) {
      const v = metadata[k];
      if (typeof v !== 'string') {
        throw new ShapeError(where, `metadata ${k}`, 'values must be strings');
      }
      pairs.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    entries.push(`${JSON.stringify(METADATA_KEY)}:{${pairs.join(',')}}`);
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) {
      throw new ShapeError(where, `tensor ${name}`, 'the name is reserved');
    }
    const t = tensors[name];
    if (!isDtype(t.dtype)) {
      throw new ShapeError(where, `tensor ${name}`, `unknown dtype ${t.dtype}`);
    }
    if (!t.shape.every(isDim)) {
      throw new ShapeError(
        where,
        `tensor ${name}`,
        `shape [${t.shape}] must hold non-negative integers`,
      );
    }
    const nbytes = elementCount(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== nbytes) {
      throw new ShapeError(
        where,
        `tensor ${name}`,
        `${t.dtype} [${t.shape}] needs ${nbytes} bytes, data has ${t.data.byteLength}`,
      );
    }
    // Key order dtype, shape, data_offsets and no spaces, as the Python
    // library writes it.
    entries.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + nbytes}]}`,
    );
    offset += nbytes;
  }

  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const name of names) {
    out.set(tensors[name].data, at);
    at += tensors[name].data.byteLength;
  }
  return out;
}

export function decodeSafetensors(
  input: Uint8Array | ArrayBuffer,
  file: string,
): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const fail = (what: string): never => {
    throw new FileFormatError(file, what);
  };

  if (bytes.length < 8) {
    fail(
      `not a safetensors file: ${bytes.length} bytes, the header length alone takes 8`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(bytes.length - 8)) {
    fail(
      `header length ${declared} runs past the end of the file (${bytes.length - 8} bytes after the length field)`,
    );
  }
  const headerLength = Number(declared);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    );
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail('header is not a JSON object');
  }

  const data = bytes.subarray(8 + headerLength);
  const metadata: [string, string][] = [];
  const found: {
    name: string;
    tensor: SafeTensor;
    begin: number;
    end: number;
  }[] = [];
  for (const [name, entry] of Object.entries(header as object)) {
    if (name === METADATA_KEY) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        fail(`${METADATA_KEY} is not an object of strings`);
      }
      for (const [k, v] of Object.entries(entry as object)) {
        if (typeof v !== 'string') {
          fail(`${METADATA_KEY}.${k} is ${JSON.stringify(v)}, not a string`);
        }
        metadata.push([k, v]);
      }
      continue;
    }
    const at = `tensor ${JSON.stringify(name)}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      fail(`${at}: entry is not an object`);
    }
    const {
      dtype,
      shape,
      data_offsets: offsets,
    } = entry as Record<string, unknown>;
    for (const [key, value] of [
      ['dtype', dtype],
      ['shape', shape],
      ['data_offsets', offsets],
    ] as const) {
      if (value === undefined) fail(`${at}: missing ${key}`);
    }
    if (!isDtype(dtype)) {
      fail(
        `${at}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isDim)) {
      fail(
        `${at}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`,
      );
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every(isDim) ||
      offsets[0] > offsets[1]
    ) {
      fail(
        `${at}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`,
      );
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    if (end > data.length) {
      fail(
        `${at}: data_offsets [${begin}, ${end}] out of range: the data section has ${data.length} bytes`,
      );
    }
    const d = dtype as SafeDtype;
    const nbytes = elementCount(dims) * DTYPE_SIZE[d];
    if (end - begin !== nbytes) {
      fail(
        `${at}: data_offsets [${begin}, ${end}] cover ${end - begin} bytes, ${d} [${dims}] needs ${nbytes}`,
      );
    }
    found.push({
      name,
      tensor: { dtype: d, shape: dims, data: data.subarray(begin, end) },
      begin,
      end,
    });
  }

  // The tensors must tile the data section exactly, in offset order.
  found.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '';
  for (const { name, begin, end } of found) {
    if (begin < cursor) {
      fail(
        `tensor ${JSON.stringify(name)} at [${begin}, ${end}] overlaps tensor ${JSON.stringify(previous)} ending at ${cursor}`,
      );
    }
    if (begin > cursor) {
      fail(
        `bytes [${cursor}, ${begin}) of the data section belong to no tensor (a hole before ${JSON.stringify(name)})`,
      );
    }
    cursor = end;
    previous = name;
  }
  if (cursor !== data.length) {
    fail(
      `the data section has ${data.length} bytes but the tensors cover only ${cursor}`,
    );
  }

  // fromEntries defines own properties, so even a tensor named "__proto__"
  // comes back as data rather than changing the object's prototype.
  return {
    tensors: Object.fromEntries(found.map((f) => [f.name, f.tensor])),
    metadata: Object.fromEntries(metadata),
  };
}

/** An F32 tensor viewing `values` (no copy on little-endian hosts). */
export function f32Tensor(shape: number[], values: Float32Array): SafeTensor {
  if (!shape.every(isDim) || elementCount(shape) !== values.length) {
    throw new ShapeError(
      'f32Tensor',
      'shape',
      `[${shape}] does not describe ${values.length} values`,
    );
  }
  let data: Uint8Array;
  if (LITTLE_ENDIAN_HOST) {
    data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  } else {
    data = new Uint8Array(values.byteLength);
    const dv = new DataView(data.buffer);
    values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  }
  return { dtype: 'F32', shape: [...shape], data };
}

/**
 * The values of an F32 tensor as a fresh, aligned Float32Array (tensor data
 * inside a file need not sit at a multiple of 4 in memory).
 */
export function tensorToF32(
  t: SafeTensor,
  name: string,
  file: string,
): Float32Array {
  if (t.dtype !== 'F32') {
    throw new FileFormatError(
      file,
      `tensor ${JSON.stringify(name)} is ${t.dtype}, expected F32`,
    );
  }
  const n = elementCount(t.shape);
  if (t.data.byteLength !== 4 * n) {
    throw new FileFormatError(
      file,
      `tensor ${JSON.stringify(name)}: F32 [${t.shape}] needs ${4 * n} bytes, data has ${t.data.byteLength}`,
    );
  }
  const out = new Float32Array(n);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(t.data);
  } else {
    const dv = new DataView(
      t.data.buffer,
      t.data.byteOffset,
      t.data.byteLength,
    );
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  }
  return out;
}
