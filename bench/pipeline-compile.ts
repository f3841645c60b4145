/**
 * What some pipelines cost to build and compile on this adapter with a cold Mesa shader cache:
 * each entry point is created (`create`: Dawn's Tint, then the driver's front end) and dispatched
 * once on scratch buffers (`first`: lavapipe compiles with LLVM at a pipeline's first run). CPU
 * of the whole process, every thread. For comparing versions of a shader: `--variant` replaces
 * a file of shaders/ (the shader itself or one it includes) with another file.
 *
 *   npx tsx bench/pipeline-compile.ts window_attention_sg bwd_kv forward bwd_dq
 *   npx tsx bench/pipeline-compile.ts matmul_sg main --variant matmul_sg_body=/tmp/body.wgsl
 *   npx tsx bench/pipeline-compile.ts gdfn backward --constants '{"PX":4}'
 *   npx tsx bench/pipeline-compile.ts window_attention_sg bwd_kv --dawn-flag enable-dawn-features=allow_unsafe_apis,disable_robustness
 *   GALLIVM_PERF=nopt npx tsx bench/pipeline-compile.ts window_attention_sg bwd_kv   # LLVM without its passes
 *
 * Each run takes a new, empty Mesa cache, so run it once per version and alternate versions:
 * the machine's speed drifts by ±20 % within minutes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { variant: { type: 'string', multiple: true, default: [] }, constants: { type: 'string' }, 'dawn-flag': { type: 'string', multiple: true, default: [] } },
});
const [shader, ...entries] = positionals;
if (!shader || !entries.length) {
  console.error('usage: npx tsx bench/pipeline-compile.ts <shader> <entry> [entry...] [--variant name=file.wgsl] [--constants json] [--dawn-flag flag]');
  process.exit(2);
}
const variants = new Map<string, string>();
for (const v of values.variant!) {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new Error(`--variant wants name=file.wgsl (a file of shaders/ without .wgsl, then the file to use instead), got '${v}'`);
  variants.set(v.slice(0, eq), readFileSync(v.slice(eq + 1), 'utf8'));
}
const constants = values.constants ? (JSON.parse(values.constants) as Record<string, number>) : undefined;

// before Mesa starts: a cache of this run's own
const cache = mkdtempSync(join(tmpdir(), 'lrdif-pipeline-compile-'));
process.env.MESA_SHADER_CACHE_DIR = cache;
const { createContext } = await import('../src/gpu/create.js');
const { nodeShaderSource } = await import('../src/gpu/node.js');
const { timePipelines } = await import('./pipeline-cost.js');
const webgpu = await import('webgpu');
Object.assign(globalThis, webgpu.globals);
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const root = webgpu.create(values['dawn-flag']!);
const ctx = await createContext(root as unknown as GPU, (name) => variants.get(name) ?? nodeShaderSource(name), {}, root);
try {
  const costs = await timePipelines(
    ctx,
    entries.map((entry) => ({ shader, entry, constants })),
  );
  for (const c of costs) console.log(`${c.label}: create ${c.createCpuMs.toFixed(0)} ms, first dispatch ${c.firstCpuMs.toFixed(0)} ms of CPU`);
  const total = costs.reduce((t, c) => t + c.createCpuMs + c.firstCpuMs, 0);
  console.log(`total ${(total / 1000).toFixed(2)} s of CPU on ${ctx.adapter.summary}`);
} finally {
  ctx.dispose();
  rmSync(cache, { recursive: true, force: true });
}
process.exit(0);
