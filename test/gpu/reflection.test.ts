// Without a GPU: every shader in shaders/ has a wrapper spec, and every
// spec's declared bindings and params match what reflecting its WGSL finds.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkDeclared, fullSource, reflectKernel, type KernelSpec } from '../../src/gpu/kernel';

const modules = import.meta.glob('../../src/kernels/*.ts', { eager: true }) as Record<
  string,
  Record<string, unknown>
>;

function isSpec(v: unknown): v is KernelSpec {
  const s = v as KernelSpec;
  return typeof s === 'object' && s !== null && typeof s.name === 'string' && typeof s.source === 'string';
}

const specs: KernelSpec[] = Object.values(modules).flatMap((m) => Object.values(m).filter(isSpec));
const shaderFiles = readdirSync(new URL('../../shaders', import.meta.url)).filter((f) => f.endsWith('.wgsl'));

describe('shader reflection', () => {
  it('finds a wrapper spec for every shader file', () => {
    const named = new Set(specs.map((s) => s.name));
    const missing = shaderFiles.map((f) => f.replace(/\.wgsl$/, '')).filter((n) => !named.has(n));
    expect(missing).toEqual([]);
    expect(specs.length).toBeGreaterThanOrEqual(shaderFiles.length);
  });

  for (const spec of specs) {
    it(`${spec.name}: wrapper bindings and params match the WGSL`, () => {
      const r = reflectKernel(fullSource(spec), spec.name, spec.entryPoint);
      expect(spec.bindings, `${spec.name} must declare its bindings`).toBeDefined();
      expect(checkDeclared(spec, r)).toEqual([]);
      for (const c of Object.keys(spec.constants ?? {})) expect(r.overrides).toContain(c);
      console.log(
        `[reflect] ${spec.name}: ${r.bindings.map((b) => `${b.binding}:${b.name}(${b.kind})`).join(' ')}` +
          (r.params ? ` params{${r.params.fields.map((f) => `${f.name}@${f.offset}`).join(',')}}` : ''),
      );
    });
  }
});
