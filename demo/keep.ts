// The last model trained or loaded on the page, kept in IndexedDB so that it
// survives a reload: its safetensors bytes (weights and Adam state), the
// settings it was trained with and its epoch rows. One record; every failure
// (private mode, storage full, no IndexedDB) only means nothing is kept.

import type { EpochResult } from '../src/model/trainer';
import type { DemoSettings } from './settings';

export interface KeptModel {
  checkpoint: Uint8Array;
  settings: DemoSettings;
  epochs: EpochResult[];
  savedAt: string;
}

const DB_NAME = 'wgsl-nn-demo';
const STORE = 'models';
const KEY = 'last';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new Error('this browser has no IndexedDB'));
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB: could not open'));
  });
}

async function run<T>(mode: IDBTransactionMode, body: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = body(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB: transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB: transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export async function keepModel(m: KeptModel): Promise<void> {
  await run('readwrite', (s) => s.put(m, KEY));
}

export async function keptModel(): Promise<KeptModel | null> {
  const m = (await run('readonly', (s) => s.get(KEY))) as KeptModel | undefined;
  return m && m.checkpoint instanceof Uint8Array ? m : null;
}

export async function forgetModel(): Promise<void> {
  await run('readwrite', (s) => s.delete(KEY));
}
