// Kernel loading: WGSL source -> reflection -> bind-group layout -> pipeline.
//
// Layouts are never written by hand: every binding of group 0, its kind
// (uniform, storage, read-only storage) and its minimum size come from
// reflecting the WGSL with wgsl_reflect. The `params` uniform struct's member
// offsets come from the same reflection, so a field added to a shader cannot
// silently shift the others.

import { ResourceType, WgslReflect, type VariableInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { ShaderError, ShapeError } from '../errors';
import { asBinding, bufferOf, sizeOf, type BufferRef } from './buffers';

export type BindingKind = 'uniform' | 'storage' | 'read-only-storage';

export interface BindingInfo {
  name: string;
  binding: number;
  kind: BindingKind;
  /** Bytes of the fixed part (a struct, or one element of a runtime array). */
  minBytes: number;
  /** WGSL element type of a storage array (f32, u32, vec4<f32>, ...). */
  elementType: string;
}

export interface UniformField {
  name: string;
  offset: number;
  type: 'u32' | 'i32' | 'f32';
}

export interface UniformLayout {
  structName: string;
  size: number;
  fields: UniformField[];
}

export interface KernelSpec {
  /** The op's name, used in every label and error message. */
  name: string;
  source: string;
  /** Helpers from shaders/common prepended to the source (WGSL has no include). */
  includes?: string[];
  entryPoint?: string;
  /** Values for the shader's `override` constants (workgroup and tile sizes). */
  constants?: Record<string, number>;
  /**
   * The bindings and params fields the wrapper passes, in binding order. Kernel
   * creation and a Node test check them against the reflected WGSL.
   */
  bindings?: readonly string[];
  params?: readonly string[];
}

/** Differences between what a wrapper declares and what its WGSL declares. */
export function checkDeclared(spec: KernelSpec, r: Reflection): string[] {
  const problems: string[] = [];
  const storage = r.bindings.filter((b) => b.kind !== 'uniform').map((b) => b.name);
  if (spec.bindings && storage.join(',') !== spec.bindings.join(',')) {
    problems.push(
      `bindings: wrapper passes [${spec.bindings.join(', ')}], WGSL declares [${storage.join(', ')}]`,
    );
  }
  const fields = r.params?.fields.map((f) => f.name) ?? [];
  if (spec.params && fields.join(',') !== spec.params.join(',')) {
    problems.push(
      `params: wrapper sets [${spec.params.join(', ')}], WGSL declares [${fields.join(', ')}]`,
    );
  }
  return problems;
}

/** The full source the GPU compiles: includes first, then the kernel. */
export function fullSource(spec: KernelSpec): string {
  const includes = spec.includes ?? [];
  return (includes.length ? includes.join('\n') + '\n' : '') + spec.source;
}

export interface Reflection {
  bindings: BindingInfo[];
  params: UniformLayout | null;
  workgroupSize: [number, number, number] | null;
  overrides: string[];
}

function bindingKind(v: VariableInfo): BindingKind {
  if (v.resourceType === ResourceType.Uniform) return 'uniform';
  if (v.resourceType === ResourceType.Storage) {
    return v.access === 'read' ? 'read-only-storage' : 'storage';
  }
  throw new ShaderError(`binding ${v.name}: only buffers are supported`);
}

function uniformLayout(v: VariableInfo, kernel: string): UniformLayout {
  const members = v.members;
  if (!members) {
    throw new ShaderError(`${kernel}: uniform '${v.name}' must be a struct`);
  }
  const fields = members.map((m) => {
    const t = m.type.name;
    if (t !== 'u32' && t !== 'i32' && t !== 'f32') {
      throw new ShaderError(
        `${kernel}: params.${m.name} has type ${t}; params hold scalars only`,
      );
    }
    return { name: m.name, offset: m.offset, type: t } as UniformField;
  });
  return { structName: v.type.name, size: v.size, fields };
}

/** Reflects one compute entry point's group-0 bindings and params layout. */
export function reflectKernel(
  source: string,
  kernel: string,
  entryPoint = 'main',
): Reflection {
  const reflect = new WgslReflect(source);
  const entry = reflect.entry.compute.find((f) => f.name === entryPoint);
  if (!entry) {
    throw new ShaderError(`${kernel}: no @compute entry point '${entryPoint}'`);
  }
  const groups = reflect.getBindGroups();
  if (groups.length > 1) {
    throw new ShaderError(`${kernel}: only @group(0) is used by the engine`);
  }
  const bindings: BindingInfo[] = [];
  let params: UniformLayout | null = null;
  for (const v of groups[0] ?? []) {
    if (!v) continue;
    const kind = bindingKind(v);
    const fmt = v.isArray ? v.format : null;
    const elementType = fmt ? fmt.getTypeName() : v.type.getTypeName();
    const minBytes = v.isArray ? v.stride : v.size;
    bindings.push({ name: v.name, binding: v.binding, kind, minBytes, elementType });
    if (kind === 'uniform') {
      if (v.name !== 'params') {
        throw new ShaderError(`${kernel}: the uniform must be named 'params'`);
      }
      params = uniformLayout(v, kernel);
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  return {
    bindings,
    params,
    workgroupSize: entry.workgroupSize,
    overrides: reflect.overrides.map((o) => o.name),
  };
}

/** Packs named values into a uniform buffer image using reflected offsets. */
export function packParams(
  layout: UniformLayout,
  values: Record<string, number>,
  kernel: string,
): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(layout.size / 16) * 16));
  const view = new DataView(bytes);
  const known = new Set(layout.fields.map((f) => f.name));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) {
      throw new ShapeError(kernel, `params.${key}`, 'not a field of the shader params');
    }
  }
  for (const f of layout.fields) {
    const value = values[f.name];
    if (value === undefined || !Number.isFinite(value)) {
      throw new ShapeError(kernel, `params.${f.name}`, `missing or not finite (${value})`);
    }
    if (f.type === 'f32') view.setFloat32(f.offset, value, true);
    else if (f.type === 'u32') {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
        throw new ShapeError(kernel, `params.${f.name}`, `${value} is not a u32`);
      }
      view.setUint32(f.offset, value, true);
    } else {
      if (!Number.isInteger(value) || Math.abs(value) > 0x7fffffff) {
        throw new ShapeError(kernel, `params.${f.name}`, `${value} is not an i32`);
      }
      view.setInt32(f.offset, value, true);
    }
  }
  return bytes;
}

function layoutEntry(b: BindingInfo): GPUBindGroupLayoutEntry {
  return {
    binding: b.binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: b.kind },
  };
}

/** One recorded dispatch: bind group and params built once, encoded per step. */
export interface PreparedDispatch {
  readonly label: string;
  readonly kernel: string;
  encode(pass: GPUComputePassEncoder): void;
  /** Releases the params buffer this dispatch owns (not the tensors it binds). */
  destroy(): void;
}

export interface PrepareOptions {
  label?: string;
  resources: Record<string, BufferRef>;
  params?: Record<string, number>;
  workgroups: [number, number?, number?];
}

async function compileMessages(module: GPUShaderModule, file: string, offset: number) {
  const info = await module.getCompilationInfo();
  return info.messages
    .filter((m) => m.type === 'error')
    .map((m) => `${file}:${m.lineNum - offset}:${m.linePos}: ${m.message}`);
}

export class Kernel {
  private constructor(
    readonly device: GPUDevice,
    readonly name: string,
    readonly reflection: Reflection,
    readonly layout: GPUBindGroupLayout,
    readonly pipeline: GPUComputePipeline,
  ) {}

  static async create(device: GPUDevice, spec: KernelSpec): Promise<Kernel> {
    const includes = spec.includes ?? [];
    const prefix = includes.join('\n') + (includes.length ? '\n' : '');
    const prefixLines = prefix.length ? prefix.split('\n').length - 1 : 0;
    const code = prefix + spec.source;
    const file = `shaders/${spec.name}.wgsl`;
    const reflection = reflectKernel(code, spec.name, spec.entryPoint);
    const problems = checkDeclared(spec, reflection);
    if (problems.length > 0) {
      throw new ShaderError(`${file}: wrapper and shader disagree: ${problems.join('; ')}`);
    }
    for (const key of Object.keys(spec.constants ?? {})) {
      if (!reflection.overrides.includes(key)) {
        throw new ShaderError(`${file}: no override constant named '${key}'`);
      }
    }
    // The scope wraps only the synchronous creations and is popped before
    // the first await: a host's own errors meanwhile, and a host's own
    // scopes, are never ours. The pipeline's failure comes back as the
    // GPUPipelineError its promise rejects with.
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: spec.name, code });
    const layout = device.createBindGroupLayout({
      label: `${spec.name} layout`,
      entries: reflection.bindings.map(layoutEntry),
    });
    const pipelineLayout = device.createPipelineLayout({
      label: `${spec.name} pipeline layout`,
      bindGroupLayouts: [layout],
    });
    const creating = device.createComputePipelineAsync({
      label: spec.name,
      layout: pipelineLayout,
      compute: {
        module,
        entryPoint: spec.entryPoint ?? 'main',
        constants: spec.constants,
      },
    });
    const scope = device.popErrorScope();
    let pipeline: GPUComputePipeline | undefined;
    let pipelineError: unknown;
    try {
      pipeline = await creating;
    } catch (e) {
      pipelineError = e;
    }
    const scopeError = await scope;
    if (pipelineError || scopeError || !pipeline) {
      const lines = await compileMessages(module, file, prefixLines);
      const detail =
        lines.join('\n') ||
        scopeError?.message ||
        (pipelineError as Error)?.message ||
        'unknown error';
      throw new ShaderError(`Error creating pipeline for ${spec.name}:\n${detail}`);
    }
    return new Kernel(device, spec.name, reflection, layout, pipeline);
  }

  /** Builds the bind group (and params buffer) for one dispatch, once. */
  prepare(options: PrepareOptions): PreparedDispatch {
    const { bindings, params } = this.reflection;
    const label = options.label ?? this.name;
    const given = new Set(Object.keys(options.resources));
    const entries: GPUBindGroupEntry[] = [];
    let paramsBuffer: GPUBuffer | null = null;
    for (const b of bindings) {
      if (b.kind === 'uniform') {
        if (!params || !options.params) {
          throw new ShapeError(label, 'params', 'the shader needs params but none were given');
        }
        const data = packParams(params, options.params, label);
        paramsBuffer = this.device.createBuffer({
          label: `${label} params`,
          size: data.byteLength,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        this.device.queue.writeBuffer(paramsBuffer, 0, data);
        entries.push({ binding: b.binding, resource: { buffer: paramsBuffer } });
        continue;
      }
      const ref = options.resources[b.name];
      if (!ref) {
        throw new ShapeError(label, b.name, 'no buffer given for this binding');
      }
      given.delete(b.name);
      if (sizeOf(ref) < b.minBytes) {
        throw new ShapeError(label, b.name, `buffer of ${sizeOf(ref)} bytes is smaller than one element`);
      }
      if (!(bufferOf(ref).usage & GPUBufferUsage.STORAGE)) {
        throw new ShapeError(label, b.name, 'buffer lacks STORAGE usage');
      }
      entries.push({ binding: b.binding, resource: asBinding(ref) });
    }
    if (given.size > 0) {
      throw new ShapeError(label, [...given].join(', '), 'not a binding of the shader');
    }
    if (options.params && !params) {
      throw new ShapeError(label, 'params', 'given, but the shader has no params uniform');
    }
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = options.workgroups;
    for (const [axis, n] of [['x', x], ['y', y], ['z', z]] as const) {
      if (!Number.isInteger(n) || n < 0 || n > max) {
        throw new ShapeError(label, `workgroups.${axis}`, `${n} is outside 0..${max}`);
      }
    }
    const bindGroup = this.device.createBindGroup({ label, layout: this.layout, entries });
    const pipeline = this.pipeline;
    return {
      label,
      kernel: this.name,
      encode(pass) {
        if (x === 0 || y === 0 || z === 0) return;
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(x, y, z);
      },
      destroy() {
        paramsBuffer?.destroy();
      },
    };
  }
}

/** Encodes several prepared dispatches as one (a kernel plus its reduction). */
export function sequence(label: string, parts: PreparedDispatch[]): PreparedDispatch {
  return {
    label,
    kernel: parts.map((p) => p.kernel).join('+'),
    encode(pass) {
      for (const p of parts) p.encode(pass);
    },
    destroy() {
      for (const p of parts) p.destroy();
    },
  };
}

export interface RowGrid {
  rowLength: number;
  rows: number;
  batch: number;
  workgroupSize: number;
}

/** The workgroup counts of a RowGrid along x, y and z (unchecked). */
export function rowGridWorkgroups(grid: RowGrid): [number, number, number] {
  return [Math.ceil(grid.rowLength / grid.workgroupSize), grid.rows, grid.batch];
}

/**
 * The grid of the image kernels that run one thread per element of an NHWC
 * row (maxpool, conv2d_col2im): x over a row's `rowLength` threads in
 * workgroups of `workgroupSize`, y over `rows`, z over `batch`. A shape that
 * needs more workgroups along an axis than the device allows is a ShapeError
 * naming that axis.
 */
export function rowGrid(device: GPUDevice, where: string, grid: RowGrid): [number, number, number] {
  const workgroups = rowGridWorkgroups(grid);
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const names = ['width x channels', 'height', 'batch'];
  workgroups.forEach((g, axis) => {
    if (g > max) {
      throw new ShapeError(
        where,
        names[axis],
        `needs ${g} workgroups along one grid axis; this device allows ${max} (maxComputeWorkgroupsPerDimension)`,
      );
    }
  });
  return workgroups;
}

/** Splits a 1-D count of workgroups over x and y when it exceeds the limit. */
export function grid1d(
  workgroups: number,
  maxPerDimension = 65535,
): [number, number] {
  if (workgroups <= maxPerDimension) return [workgroups, 1];
  const y = Math.ceil(workgroups / maxPerDimension);
  return [Math.ceil(workgroups / y), y];
}

/** Kernels are cached per device: creating a pipeline twice costs compile time. */
const cache = new WeakMap<GPUDevice, Map<string, Promise<Kernel>>>();

/** A short hash of a source text (FNV-1a), for cache keys. */
function sourceHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}

export function getKernel(device: GPUDevice, spec: KernelSpec): Promise<Kernel> {
  let perDevice = cache.get(device);
  if (!perDevice) {
    perDevice = new Map();
    cache.set(device, perDevice);
  }
  // The includes are part of the key: one kernel may be built with either of
  // two helpers (shaders/common/out_f32.wgsl or out_vec4.wgsl) and the same
  // constants.
  const includes = (spec.includes ?? []).map(sourceHash).join(',');
  const key = `${spec.name}:${spec.entryPoint ?? 'main'}:${JSON.stringify(spec.constants ?? {})}:${includes}`;
  let k = perDevice.get(key);
  if (!k) {
    k = Kernel.create(device, spec);
    perDevice.set(key, k);
    k.catch(() => perDevice!.delete(key));
  }
  return k;
}
