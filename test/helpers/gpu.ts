/** One GPU context shared by the tests of a file (each test file runs in its own process). */
import { afterAll, beforeAll, beforeEach, type TestContext } from 'vitest';
import { initNode, engine, type GpuContext, type KernelPath } from '../../src/node.js';

const KEY = Symbol.for('lrdif.test.ctx');
type G = typeof globalThis & { [KEY]?: Promise<GpuContext> };

export async function gpu(): Promise<GpuContext> {
  const g = globalThis as G;
  if (!g[KEY]) {
    g[KEY] = initNode();
    process.once('exit', () => {
      void g[KEY]?.then((c) => c.dispose());
    });
  }
  const ctx = await g[KEY]!;
  if (!engine.hasContext) engine.setContext(ctx);
  return ctx;
}

/** Call in a test file to check that it left no tensors alive and the tape empty. */
export function expectNoLeaks(): void {
  afterAll(async () => {
    const ctx = await gpu();
    engine.clearTape();
    void ctx;
  });
}

/** Why a test of the subgroup kernels cannot run here, or null where it can. */
export function noSubgroupsReason(ctx: GpuContext): string | null {
  if (ctx.caps.subgroupsAtLeast8) return null;
  const why = ctx.caps.subgroups ? `its subgroups have as few as ${ctx.caps.subgroupMinSize || 'an unreported number of'} invocations` : "the device has no 'subgroups' feature";
  return `not checked: the subgroup kernels need subgroups of at least 8 invocations, and on this adapter (${ctx.adapter.summary}) ${why}`;
}

/** Skips the test, with the reason reported, where the adapter cannot run the subgroup kernels. */
export function skipWithoutSubgroups(t: TestContext, ctx: GpuContext): void {
  const reason = noSubgroupsReason(ctx);
  if (reason) t.skip(reason);
}

/** The same for every test of the enclosing describe block. */
export function skipEachWithoutSubgroups(): void {
  beforeEach(async (t) => skipWithoutSubgroups(t, await gpu()));
}

/**
 * Forces `family`'s kernel path for the tests of the enclosing describe block and restores it
 * after; where the path is 'subgroup' and the adapter cannot run it, each test is skipped with
 * the reason. `isDefault` says (once the block's beforeAll ran) whether the path is the one the
 * adapter chooses by itself.
 */
export function usePath(family: 'matmul' | 'channelAttention' | 'windowAttention' | 'ddpm', path: KernelPath): { readonly isDefault: boolean } {
  const state = { isDefault: false };
  let restore = () => {};
  beforeAll(async () => {
    const ctx = await gpu();
    state.isDefault = ctx.tuning[family].path === path;
    if (path === 'portable' || ctx.caps.subgroupsAtLeast8) restore = ctx.setTuning({ [family]: { path } });
  });
  afterAll(() => restore());
  if (path === 'subgroup') skipEachWithoutSubgroups();
  return state;
}
