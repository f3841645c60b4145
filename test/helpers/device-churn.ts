/**
 * Child process for test/runtime.test.ts: makes N contexts one after another in one process,
 * each with work in flight when it goes (some read back first, every fifth kept alive to the
 * end), then exits. With a Dawn instance per context this crashed Dawn's native threads within
 * a few dozen contexts (SIGSEGV, "std::system_error: Invalid argument", a futex error).
 */
import { createNodeContext, UNARY } from '../../src/node.js';

const n = Number(process.argv[2] ?? 60);
const kept = [];
for (let i = 0; i < n; i++) {
  const ctx = await createNodeContext({ debug: i % 2 === 0 });
  const x = ctx.acquire(4 * 4096);
  const y = ctx.acquire(4 * 4096);
  ctx.upload(x, new Float32Array(4096).fill(i));
  for (let k = 0; k < 20; k++) {
    ctx.dispatch({ shader: 'unary', constants: { OP: UNARY.square } }, { bindings: { x, y }, uniforms: { n: 4096 }, workgroups: [16] });
  }
  if (i % 3 === 0) {
    const v = new Float32Array(await ctx.read(y, 16));
    if (v[0] !== i * i) throw new Error(`context ${i}: read ${v[0]}, expected ${i * i}`);
  }
  if (i % 5 === 0) kept.push(ctx);
  else ctx.dispose();
}
for (const ctx of kept) ctx.dispose();
process.stdout.write(`made ${n} contexts\n`);
