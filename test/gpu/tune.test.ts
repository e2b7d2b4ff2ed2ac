// The tuner with fake candidates and injected timings: which variant wins,
// what is timed, what is cached, all deterministic (no GPU, no clock).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PreparedDispatch } from '../../src/gpu/kernel';
import {
  adapterKey,
  ENGINE_VERSION,
  localStorageTuneCache,
  median,
  memoryTuneCache,
  Tuner,
  variantOf,
  type DispatchTimer,
  type TuneCandidate,
} from '../../src/gpu/tune';
import { defaultTuneCacheDir, fileTuneCache } from '../../src/node/tune_cache';
import pkg from '../../package.json';

const fakeDevice = (description = 'fake adapter') =>
  ({
    adapterInfo: { vendor: 'acme', architecture: 'rdna9', device: '0x1234', description },
    features: new Set<string>(['subgroups']),
  }) as unknown as GPUDevice;

/** Candidates whose dispatches record their own life: prepared, destroyed. */
function fakeCandidates(names: string[], log: string[]): TuneCandidate[] {
  return names.map((variant) => ({
    variant,
    async prepare(): Promise<PreparedDispatch> {
      log.push(`prepare ${variant}`);
      return {
        label: 'test',
        kernel: variant,
        encode: () => log.push(`encode ${variant}`),
        destroy: () => log.push(`destroy ${variant}`),
      };
    },
  }));
}

/** A timer that returns `ms[variant]` for every run (or a list, one per call). */
function fakeTimer(ms: Record<string, number | number[]>, calls: string[]): DispatchTimer {
  const seen = new Map<string, number>();
  return {
    clock: 'injected',
    async time(d, repetitions) {
      calls.push(`${d.kernel} x${repetitions}`);
      const v = ms[d.kernel];
      if (typeof v === 'number') return Array(repetitions).fill(v);
      const i = seen.get(d.kernel) ?? 0;
      seen.set(d.kernel, i + repetitions);
      return v.slice(i, i + repetitions);
    },
  };
}

describe('Tuner budgets', () => {
  it('stops timing once the total budget is spent: later problems run their default, uncached, and a later tuner tunes them', async () => {
    const log: string[] = [];
    const calls: string[] = [];
    const cache = memoryTuneCache();
    // Every run 1 ms, 'b' 0.5: a problem costs 4 ms per candidate (warm-up and three runs).
    const timer = fakeTimer({ a: 1, b: 0.5 }, calls);
    const tuner = new Tuner(fakeDevice(), { cache, timer, now: () => 0, budgetMs: 100, totalBudgetMs: 7 });
    const first = await tuner.choose('p1', fakeCandidates(['a', 'b'], log), 'auto');
    expect(first.variant).toBe('b');
    expect(tuner.spentMs).toBe(6);
    // 1 ms left: the second problem gets the default and its first candidate only.
    const second = await tuner.choose('p2', fakeCandidates(['a', 'b'], log), 'auto');
    expect(second.variant).toBe('a');
    // Now nothing is left: deferred, nothing timed, nothing cached.
    const before = calls.length;
    const third = await tuner.choose('p3', fakeCandidates(['a', 'b'], log), 'auto');
    expect(third.variant).toBe('a');
    expect(calls.length).toBe(before);
    expect(tuner.decisions.map((d) => d.source)).toEqual(['measured', 'measured', 'deferred']);
    expect(await cache.get(tuner.key('p3'))).toBeUndefined();
    // A later tuner on the same cache: the cached ones hit, the deferred one is tuned.
    const later = new Tuner(fakeDevice(), { cache, timer, now: () => 0, budgetMs: 100, totalBudgetMs: 7 });
    expect((await later.choose('p1', fakeCandidates(['a', 'b'], log), 'auto')).variant).toBe('b');
    expect((await later.choose('p3', fakeCandidates(['a', 'b'], log), 'auto')).variant).toBe('b');
    expect(later.decisions.map((d) => d.source)).toEqual(['cache', 'measured']);
  });
});

describe('Tuner', () => {
  it('keeps the fastest candidate by the median of its runs, and caches it', async () => {
    const log: string[] = [];
    const calls: string[] = [];
    const cache = memoryTuneCache();
    // 'b' has one slow outlier: its median (2) still beats 'a' (3).
    const timer = fakeTimer({ a: [3, 3, 3, 3], b: [2, 2, 9, 2], c: [5, 5, 5, 5] }, calls);
    const tuner = new Tuner(fakeDevice(), { cache, timer, repetitions: 3, now: () => 0 });
    const d = await tuner.choose('gemm NN m=1 n=2 k=3', fakeCandidates(['a', 'b', 'c'], log), 'auto');
    expect(d.variant).toBe('b');
    expect(d.kernel).toBe('b');
    expect(variantOf(d)).toBe('b');
    expect(variantOf({ label: 'x', kernel: 'gemm_tiled', encode() {}, destroy() {} })).toBe('gemm_tiled');
    // One warm-up run and three timed ones each.
    expect(calls).toEqual(['a x1', 'a x3', 'b x1', 'b x3', 'c x1', 'c x3']);
    // Losers are freed, the winner is not.
    expect(log.filter((l) => l.startsWith('destroy'))).toEqual(['destroy a', 'destroy c']);
    const key = tuner.key('gemm NN m=1 n=2 k=3');
    expect(key.startsWith(`${ENGINE_VERSION}|acme|rdna9|0x1234|fake adapter|`)).toBe(true);
    expect(cache.entries.get(key)).toMatchObject({ variant: 'b', timings: { a: 3, b: 2, c: 5 }, clock: 'injected' });
    expect(tuner.decisions).toEqual([
      expect.objectContaining({ problem: 'gemm NN m=1 n=2 k=3', variant: 'b', source: 'measured' }),
    ]);
  });

  it('keeps the default unless another candidate beats it beyond the margin', async () => {
    const calls: string[] = [];
    const timer = fakeTimer({ a: 3, b: 2.9, c: 2.8 }, calls);
    // b and c are 3.3% and 6.7% faster than a: with the default 5% margin
    // only c replaces a; with a 10% margin nothing does.
    const t5 = new Tuner(fakeDevice(), { cache: memoryTuneCache(), timer, now: () => 0 });
    expect((await t5.choose('p', fakeCandidates(['a', 'b', 'c'], []), 'auto')).variant).toBe('c');
    const t10 = new Tuner(fakeDevice(), { cache: memoryTuneCache(), timer, minGain: 0.1, now: () => 0 });
    expect((await t10.choose('p', fakeCandidates(['a', 'b', 'c'], []), 'auto')).variant).toBe('a');
  });

  it('uses a cached choice without timing anything', async () => {
    const log: string[] = [];
    const calls: string[] = [];
    const cache = memoryTuneCache();
    const first = new Tuner(fakeDevice(), { cache, timer: fakeTimer({ a: 3, b: 1 }, calls) });
    await first.choose('p', fakeCandidates(['a', 'b'], log), 'auto');
    calls.length = 0;
    log.length = 0;
    const second = new Tuner(fakeDevice(), { cache, timer: fakeTimer({ a: 3, b: 1 }, calls) });
    expect((await second.choose('p', fakeCandidates(['a', 'b'], log), 'auto')).variant).toBe('b');
    expect((await second.choose('p', fakeCandidates(['a', 'b'], log), 'cached-only')).variant).toBe('b');
    expect(calls).toEqual([]);
    expect(log).toEqual(['prepare b', 'prepare b']);
    expect(second.decisions.map((x) => x.source)).toEqual(['cache', 'cache']);
  });

  it("'cached-only' without a record and 'off' run the default and never time", async () => {
    const calls: string[] = [];
    const cache = memoryTuneCache();
    const tuner = new Tuner(fakeDevice(), { cache, timer: fakeTimer({ a: 3, b: 1 }, calls) });
    const log: string[] = [];
    expect((await tuner.choose('p', fakeCandidates(['a', 'b'], log), 'cached-only')).variant).toBe('a');
    expect((await tuner.choose('p', fakeCandidates(['a', 'b'], log), 'off')).variant).toBe('a');
    expect(calls).toEqual([]);
    expect(cache.entries.size).toBe(0);
    expect(log).toEqual(['prepare a', 'prepare a']);
    // 'off' ignores even a record that exists.
    cache.entries.set(tuner.key('p'), { variant: 'b', timings: {}, clock: 'injected', at: '' });
    expect((await tuner.choose('p', fakeCandidates(['a', 'b'], log), 'off')).variant).toBe('a');
    expect((await tuner.choose('p', fakeCandidates(['a', 'b'], log), 'cached-only')).variant).toBe('b');
  });

  it('keys by adapter: another adapter tunes again', async () => {
    const calls: string[] = [];
    const cache = memoryTuneCache();
    const timer = fakeTimer({ a: 3, b: 1 }, calls);
    await new Tuner(fakeDevice('gpu one'), { cache, timer }).choose('p', fakeCandidates(['a', 'b'], []), 'auto');
    calls.length = 0;
    await new Tuner(fakeDevice('gpu two'), { cache, timer }).choose('p', fakeCandidates(['a', 'b'], []), 'auto');
    expect(calls.length).toBeGreaterThan(0);
    expect(cache.entries.size).toBe(2);
    expect(adapterKey(fakeDevice('gpu one'))).not.toBe(adapterKey(fakeDevice('gpu two')));
  });

  it('ignores a cached variant that is no longer a candidate', async () => {
    const calls: string[] = [];
    const cache = memoryTuneCache();
    const tuner = new Tuner(fakeDevice(), { cache, timer: fakeTimer({ a: 3, b: 1 }, calls) });
    cache.entries.set(tuner.key('p'), { variant: 'gone', timings: {}, clock: 'injected', at: '' });
    expect((await tuner.choose('p', fakeCandidates(['a', 'b'], []), 'auto')).variant).toBe('b');
    expect(calls.length).toBe(4);
  });

  it('decides again when the cached variant no longer builds', async () => {
    const calls: string[] = [];
    const cache = memoryTuneCache();
    const tuner = new Tuner(fakeDevice(), { cache, timer: fakeTimer({ a: 3 }, calls), now: () => 0 });
    cache.entries.set(tuner.key('p'), { variant: 'b', timings: {}, clock: 'injected', at: '' });
    const [a] = fakeCandidates(['a'], []);
    const b: TuneCandidate = { variant: 'b', prepare: () => Promise.reject(new Error('over the limits')) };
    expect((await tuner.choose('p', [a, b], 'cached-only')).variant).toBe('a');
    expect(calls).toEqual([]);
    expect((await tuner.choose('p', [a, b], 'auto')).variant).toBe('a');
    expect(cache.entries.get(tuner.key('p'))?.variant).toBe('a');
  });

  it('skips candidates that fail, and times a hopeless one only once', async () => {
    const calls: string[] = [];
    const log: string[] = [];
    const tuner = new Tuner(fakeDevice(), {
      cache: memoryTuneCache(),
      timer: fakeTimer({ a: 2, slow: 100, c: 1 }, calls),
    });
    const broken: TuneCandidate = { variant: 'broken', prepare: () => Promise.reject(new Error('refused')) };
    const [a, slow, c] = fakeCandidates(['a', 'slow', 'c'], log);
    const d = await tuner.choose('p', [a, broken, slow, c], 'auto');
    expect(d.variant).toBe('c');
    // 'slow' took over 4x the best on its warm-up: no timed runs.
    expect(calls).toEqual(['a x1', 'a x3', 'slow x1', 'c x1', 'c x3']);
  });

  it('throws the default candidate\'s error when every candidate fails', async () => {
    const tuner = new Tuner(fakeDevice(), { cache: memoryTuneCache(), timer: fakeTimer({}, []) });
    const bad = (variant: string): TuneCandidate => ({ variant, prepare: () => Promise.reject(new Error(`${variant} refused`)) });
    await expect(tuner.choose('p', [bad('x'), bad('y')], 'auto')).rejects.toThrow('x refused');
  });

  it('stops trying new candidates once the budget is spent, preparing included', async () => {
    const calls: string[] = [];
    // The injected clock: every prepare takes 5 ms.
    let clock = 0;
    const log: string[] = [];
    const candidates = fakeCandidates(['a', 'b', 'c'], log).map((c) => ({
      ...c,
      prepare: async () => {
        const d = await c.prepare();
        clock += 5;
        return d;
      },
    }));
    const tuner = new Tuner(fakeDevice(), {
      cache: memoryTuneCache(),
      timer: fakeTimer({ a: 10, b: 9, c: 1 }, calls),
      budgetMs: 50,
      now: () => clock,
    });
    // a: 5 + 40 ms, b: 5 + 36 ms; the budget (50) is over before c.
    const d = await tuner.choose('p', candidates, 'auto');
    expect(d.variant).toBe('b');
    expect(calls).toEqual(['a x1', 'a x3', 'b x1', 'b x3']);
    expect(log.filter((l) => l.startsWith('prepare'))).toEqual(['prepare a', 'prepare b']);
  });

  it('counts preparing against the budget: slow compiles leave the later candidates out', async () => {
    const calls: string[] = [];
    let clock = 0;
    const candidates = fakeCandidates(['a', 'b', 'c'], []).map((c) => ({
      ...c,
      prepare: async () => {
        clock += 600; // a compile of 600 ms, timing nothing
        return c.prepare();
      },
    }));
    const tuner = new Tuner(fakeDevice(), {
      cache: memoryTuneCache(),
      timer: fakeTimer({ a: 0, b: 0, c: 0 }, calls),
      budgetMs: 1000,
      now: () => clock,
    });
    await tuner.choose('p', candidates, 'auto');
    expect(calls).toEqual(['a x1', 'a x3', 'b x1', 'b x3']);
  });

  it('reports progress per candidate', async () => {
    const seen: string[] = [];
    const tuner = new Tuner(fakeDevice(), {
      cache: memoryTuneCache(),
      timer: fakeTimer({ a: 1, b: 2 }, []),
      onProgress: (p) => seen.push(`${p.problem} ${p.variant} ${p.index + 1}/${p.count}`),
    });
    await tuner.choose('p', fakeCandidates(['a', 'b'], []), 'auto');
    expect(seen).toEqual(['p a 1/2', 'p b 2/2']);
  });
});

describe('median', () => {
  it('of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('tune caches', () => {
  const record = { variant: 'gemm_blocked 8x8 wg16x16 k16', timings: { x: 1 }, clock: 'wall' as const, at: '2026-12-01' };

  it('fileTuneCache round-trips through a JSON file and reads a corrupt one as empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgsl-nn-tune-'));
    const cache = fileTuneCache(dir);
    expect(cache.path).toBe(join(dir, 'tune.json'));
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', record);
    await cache.set('k2', { ...record, variant: 'gemm_sg' });
    expect(await fileTuneCache(dir).get('k')).toEqual(record);
    expect(JSON.parse(readFileSync(cache.path, 'utf8')).k2.variant).toBe('gemm_sg');
    writeFileSync(cache.path, '{ not json');
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', record);
    expect(await cache.get('k')).toEqual(record);
  });

  it('the cache directory: $WGSL_NN_CACHE_DIR, else $XDG_CACHE_HOME/wgsl-nn, else ~/.cache/wgsl-nn', () => {
    expect(defaultTuneCacheDir({ WGSL_NN_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(defaultTuneCacheDir({ XDG_CACHE_HOME: '/c' })).toBe(join('/c', 'wgsl-nn'));
    expect(defaultTuneCacheDir({}).endsWith(join('.cache', 'wgsl-nn'))).toBe(true);
  });

  it('localStorageTuneCache round-trips through a Storage, and is a no-op without one', async () => {
    const items = new Map<string, string>();
    const storage = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
    };
    const g = globalThis as { localStorage?: unknown };
    const before = g.localStorage;
    try {
      g.localStorage = storage;
      const cache = localStorageTuneCache('t');
      await cache.set('k', record);
      expect(await localStorageTuneCache('t').get('k')).toEqual(record);
      expect(JSON.parse(items.get('t')!).k.variant).toBe(record.variant);
      items.set('t', 'garbage');
      expect(await cache.get('k')).toBeUndefined();
      delete g.localStorage;
      const none = localStorageTuneCache('t');
      await none.set('k', record);
      expect(await none.get('k')).toBeUndefined();
    } finally {
      g.localStorage = before;
    }
  });

  it('ENGINE_VERSION is the package version', () => {
    expect(ENGINE_VERSION).toBe(pkg.version);
  });
});
