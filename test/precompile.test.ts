import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpu } from './helpers/gpu.js';
import { UNARY, type GpuContext } from '../src/node.js';
import { HelperCompiler, helperCanPrecompile, precompiledMarker, precompileOnHelper } from '../src/gpu/precompile-node.js';
import { kernelKey } from '../src/gpu/kernel.js';
import { windowAttentionKernels } from '../src/kernels/window-attention.js';
import { compileTrainingAhead } from '../src/train/compile-ahead-node.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await gpu();
});

// the marker's folder follows MESA_SHADER_CACHE_DIR at call time (Mesa itself keeps the folder it
// started with: the compiled pipelines land there whatever the test sets)
const savedEnv = { dir: process.env.MESA_SHADER_CACHE_DIR, off: process.env.MESA_SHADER_CACHE_DISABLE };
afterEach(() => {
  for (const [k, v] of [
    ['MESA_SHADER_CACHE_DIR', savedEnv.dir],
    ['MESA_SHADER_CACHE_DISABLE', savedEnv.off],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('pipelines compiled ahead on a helper device', () => {
  it('compiles them, leaves a marker in the shader cache folder, and skips them the next time', async () => {
    process.env.MESA_SHADER_CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-precompile-'));
    const reqs = [
      { shader: 'unary', constants: { OP: UNARY.abs } },
      { shader: 'unary', entry: 'main4', constants: { OP: UNARY.abs } },
    ];
    const marker = precompiledMarker(ctx, reqs);
    expect(path.dirname(marker)).toBe(process.env.MESA_SHADER_CACHE_DIR);
    expect(fs.existsSync(marker)).toBe(false);
    expect(await precompileOnHelper(ctx, reqs)).toBe('compiled');
    const written = JSON.parse(fs.readFileSync(marker, 'utf8')) as { kernels: string[]; adapter: string };
    expect(written.kernels).toEqual([`unary:main{OP=${UNARY.abs}}`, `unary:main4{OP=${UNARY.abs}}`]);
    expect(written.adapter).toBe(ctx.adapter.summary);
    expect(await precompileOnHelper(ctx, reqs)).toBe('skipped');
    // other pipelines, another marker; the main device is untouched by the helper's work
    expect(precompiledMarker(ctx, reqs.slice(0, 1))).not.toBe(marker);
    expect(ctx.hasKernel(reqs[0])).toBe(false);
  });

  it('an open helper takes kernels added later, in order and once each, until sealed; a stopped one starts nothing more', async () => {
    process.env.MESA_SHADER_CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-precompile-'));
    const [abs, abs4, neg] = [
      { shader: 'unary', constants: { OP: UNARY.abs } },
      { shader: 'unary', entry: 'main4', constants: { OP: UNARY.abs } },
      { shader: 'unary', constants: { OP: UNARY.neg } },
    ];
    const open = new HelperCompiler(ctx, [abs], { open: true });
    await new Promise((r) => setTimeout(r, 50));
    open.add([neg, abs, abs4]);
    open.seal();
    open.add([{ shader: 'unary', entry: 'main4', constants: { OP: UNARY.neg } }]);
    expect(await open.done).toBe('compiled');
    expect(open.compiled).toEqual([abs, neg, abs4].map(kernelKey));
    // the marker names the first requests, and lists what was compiled
    const written = JSON.parse(fs.readFileSync(precompiledMarker(ctx, [abs]), 'utf8')) as { kernels: string[] };
    expect(written.kernels).toEqual(open.compiled);

    const stopped = new HelperCompiler(ctx, [abs4, neg], { open: true });
    stopped.stop();
    stopped.add([abs]);
    expect(await stopped.done).toBe('compiled');
    expect(stopped.compiled).toEqual([]);
    // stopped before its first requests were compiled (and the main device has not run them): no marker
    expect(fs.existsSync(precompiledMarker(ctx, [abs4, neg]))).toBe(false);
  });

  it('fails softly, leaving no marker, when a pipeline cannot be built', async () => {
    process.env.MESA_SHADER_CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-precompile-'));
    const reqs = [{ shader: 'no_such_shader' }];
    await expect(precompileOnHelper(ctx, [{ shader: 'unary', constants: { OP: UNARY.abs } }, ...reqs])).resolves.toBe('failed');
    expect(fs.readdirSync(process.env.MESA_SHADER_CACHE_DIR).filter((f) => f.startsWith('lrdif-precompiled-'))).toEqual([]);
  });

  it('is for CPU adapters with a shader cache, and a training run asks for the window attention backward on the subgroup path only', async () => {
    expect(helperCanPrecompile(ctx)).toBe(ctx.caps.isCpuAdapter);
    process.env.MESA_SHADER_CACHE_DISABLE = 'true';
    expect(helperCanPrecompile(ctx)).toBe(false);
    expect(compileTrainingAhead(ctx)).toBeNull();
    delete process.env.MESA_SHADER_CACHE_DISABLE;
    await ctx.withTuning({ windowAttention: { path: 'portable' } }, async () => {
      expect(windowAttentionKernels(ctx, 'backward')).toEqual([]);
      expect(compileTrainingAhead(ctx)).toBeNull();
    });
    if (ctx.caps.subgroupsAtLeast8) {
      await ctx.withTuning({ windowAttention: { path: 'subgroup' } }, async () => {
        expect(windowAttentionKernels(ctx, 'backward')).toEqual([
          { shader: 'window_attention_sg', entry: 'bwd_kv' },
          { shader: 'window_attention_sg', entry: 'bwd_dq' },
        ]);
        expect(windowAttentionKernels(ctx, 'forward')).toEqual([{ shader: 'window_attention_sg', entry: 'forward' }]);
      });
    }
  });
});
