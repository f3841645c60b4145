/**
 * Child process for test/runtime.test.ts: creates a device, runs one op, disposes the context
 * and returns from the module. The process must then exit by itself (Dawn keeps Node's
 * event loop alive while a device lives).
 */
import { initNode, tensor, add } from '../../src/node.js';

const ctx = await initNode();
const y = add(tensor([1, 2, 3]), tensor([10, 20, 30]));
const values = Array.from(await y.data());
ctx.dispose();
process.stdout.write(`result ${values.join(',')}\n`);
