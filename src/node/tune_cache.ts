// The tuner's cache as a JSON file, for Node: one file per cache directory,
// an object from cache key (engine version | adapter | problem) to record.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { validRecord, type TuneCache, type TuneRecord } from '../gpu/tune';

/**
 * Where tuning results live unless told otherwise: $WGSL_NN_CACHE_DIR, else
 * $XDG_CACHE_HOME/wgsl-nn, else ~/.cache/wgsl-nn.
 */
export function defaultTuneCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.WGSL_NN_CACHE_DIR) return env.WGSL_NN_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wgsl-nn');
}

/**
 * A TuneCache in `dir`/tune.json (default: defaultTuneCacheDir()). A file
 * that is missing or unreadable reads as empty; writes go through a
 * temporary file and a rename, so a crash never leaves half a file.
 */
export function fileTuneCache(dir = defaultTuneCacheDir()): TuneCache & { readonly path: string } {
  const path = join(dir, 'tune.json');
  const readAll = (): Record<string, TuneRecord> => {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      return parsed && typeof parsed === 'object' ? (parsed as Record<string, TuneRecord>) : {};
    } catch {
      return {};
    }
  };
  return {
    path,
    get: (key) => validRecord(readAll()[key]),
    set: (key, record) => {
      mkdirSync(dir, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ ...readAll(), [key]: record }, null, 1) + '\n');
      renameSync(tmp, path);
    },
  };
}
