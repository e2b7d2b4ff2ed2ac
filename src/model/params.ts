// Parameters, gradients and both Adam moments each live in ONE buffer; every
// tensor is a slice aligned to the device's storage offset alignment. One Adam
// dispatch then updates the whole model, and a checkpoint is four copies.
// Trainable tensors come first and Adam runs over them only
// (trainableFloats); batchnorm's moving statistics follow, in the same
// buffers, so they travel with the weights (the Adam moments and gradients
// of those slots stay zero).

import { createStorage, type BufferSlice } from '../gpu/buffers';
import type { ParamInfo } from './model';
import { Rng } from '../util/rng';

export interface ParamSlot {
  info: ParamInfo;
  /** Offset in floats into each of the four buffers. */
  offset: number;
}

export class ParamStore {
  readonly slots = new Map<string, ParamSlot>();
  readonly totalFloats: number;
  /** Floats from 0 that hold trainable tensors: what Adam updates. */
  readonly trainableFloats: number;
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
  readonly m: GPUBuffer;
  readonly v: GPUBuffer;

  constructor(
    readonly device: GPUDevice,
    infos: ParamInfo[],
  ) {
    const alignFloats = Math.max(1, device.limits.minStorageBufferOffsetAlignment / 4);
    let offset = 0;
    let trainableEnd = 0;
    const trainable = (i: ParamInfo) => i.trainable ?? true;
    const ordered = [...infos.filter(trainable), ...infos.filter((i) => !trainable(i))];
    for (const info of ordered) {
      this.slots.set(info.name, { info, offset });
      offset += Math.ceil(info.size / alignFloats) * alignFloats;
      if (trainable(info)) trainableEnd = offset;
    }
    this.totalFloats = Math.max(offset, 4);
    this.trainableFloats = ordered.every(trainable) ? this.totalFloats : trainableEnd;
    const bytes = this.totalFloats * 4;
    // If one of the four cannot be made, the ones before it are freed.
    const made: GPUBuffer[] = [];
    try {
      for (const label of ['params', 'grads', 'adam m', 'adam v']) made.push(createStorage(device, bytes, label));
    } catch (e) {
      for (const b of made) b.destroy();
      throw e;
    }
    [this.params, this.grads, this.m, this.v] = made;
  }

  slot(name: string): ParamSlot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return s;
  }

  /** The slice of one of the four buffers that holds the named tensor. */
  slice(buffer: GPUBuffer, name: string): BufferSlice {
    const s = this.slot(name);
    return { buffer, offset: s.offset * 4, size: s.info.size * 4 };
  }

  /** Glorot-uniform kernels, zero biases, ones where asked (batchnorm), as Keras; zero Adam moments. */
  initialize(seed: number): void {
    const rng = new Rng(seed);
    const host = new Float32Array(this.totalFloats);
    for (const { info, offset } of this.slots.values()) {
      if (info.init === 'glorot_uniform') {
        const limit = Math.sqrt(6 / (info.fanIn + info.fanOut));
        for (let i = 0; i < info.size; i++) host[offset + i] = rng.uniform(-limit, limit);
      } else if (info.init === 'ones') {
        host.fill(1, offset, offset + info.size);
      }
    }
    this.writeAll({ params: host, m: new Float32Array(this.totalFloats), v: new Float32Array(this.totalFloats) });
  }

  writeAll(state: { params: Float32Array<ArrayBuffer>; m: Float32Array<ArrayBuffer>; v: Float32Array<ArrayBuffer> }): void {
    this.device.queue.writeBuffer(this.params, 0, state.params);
    this.device.queue.writeBuffer(this.m, 0, state.m);
    this.device.queue.writeBuffer(this.v, 0, state.v);
  }

  /** Host copies of one buffer's tensors, by name. */
  unpack(flat: Float32Array): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const { info, offset } of this.slots.values()) {
      out.set(info.name, flat.slice(offset, offset + info.size));
    }
    return out;
  }

  pack(tensors: Map<string, Float32Array>, into = new Float32Array(this.totalFloats)): Float32Array<ArrayBuffer> {
    for (const { info, offset } of this.slots.values()) {
      const t = tensors.get(info.name);
      if (t) into.set(t, offset);
    }
    return into;
  }

  destroy(): void {
    for (const b of [this.params, this.grads, this.m, this.v]) b.destroy();
  }
}
