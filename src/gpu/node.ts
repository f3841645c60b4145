/**
 * Node platform adapter: Dawn through the npm `webgpu` package, shaders read from the
 * package's `shaders/` folder. The only file of src/gpu that imports Node modules.
 */
import { readFileSync } from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, NO_ADAPTER_HELP, type CreateOptions } from './create.js';
import type { GpuContext } from './context.js';
import { setDawnPolling, type DawnPolling } from './dawn-poll-node.js';
import type { TuningPatch } from './tuning.js';

export interface NodeCreateOptions extends CreateOptions {
  /** Dawn backend: 'vulkan' (default on Linux), 'opengles', 'metal', 'd3d12'... Also LRDIF_BACKEND. */
  backend?: string;
  /** Extra dawn.node flags (e.g. 'adapter=llvmpipe'). */
  dawnFlags?: string[];
  /**
   * How dawn.node waits for the GPU, process-wide: 'paced' (default) spins a quarter of a
   * millisecond, then polls once a millisecond; 'spin' is dawn.node's own busy loop, which on a
   * CPU adapter takes a core from the GPU work (src/gpu/dawn-poll-node.ts). Also LRDIF_DAWN_POLL.
   */
  polling?: DawnPolling;
}

function packageRoot(): string {
  // src/gpu/node.ts (tsx) or dist/src/gpu/node.js (built): walk up to the folder holding shaders/.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('lrdif: cannot find the package root (the folder holding shaders/)');
}

const shaderCache = new Map<string, string>();
export function nodeShaderSource(name: string): string {
  let s = shaderCache.get(name);
  if (s === undefined) {
    const file = join(packageRoot(), 'shaders', `${name}.wgsl`);
    s = readFileSync(file, 'utf8');
    shaderCache.set(name, s);
  }
  return s;
}

// One Dawn instance per set of flags for the life of the process, shared by every context made
// with those flags. A root that is collected while its device lives segfaults dawn.node at the
// next dispatch; and an instance per context (created, then collected at some later GC) crashed
// or deadlocked Dawn's native threads within a few dozen contexts ("std::system_error: Invalid
// argument", "The futex facility returned an unexpected error code", SIGSEGV). Never dropped.
const dawnRoots = new Map<string, unknown>();
function dawnRoot(webgpu: typeof import('webgpu'), flags: string[]): unknown {
  const key = flags.join('\n');
  let root = dawnRoots.get(key);
  if (root === undefined) {
    root = webgpu.create(flags);
    dawnRoots.set(key, root);
  }
  return root;
}

export async function createNodeContext(options: NodeCreateOptions = {}): Promise<GpuContext> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp'; // silences Mesa's warnings
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new Error(`lrdif: cannot load the npm package "webgpu" (Dawn for Node): ${(e as Error).message}\n${NO_ADAPTER_HELP}`);
  }
  Object.assign(globalThis, webgpu.globals);
  const flags = [...(options.dawnFlags ?? [])];
  const backend = options.backend ?? process.env.LRDIF_BACKEND;
  if (backend) flags.push(`backend=${backend}`);
  if (process.env.LRDIF_ADAPTER) flags.push(`adapter=${process.env.LRDIF_ADAPTER}`);
  const polling = options.polling ?? process.env.LRDIF_DAWN_POLL ?? 'paced';
  if (polling !== 'paced' && polling !== 'spin') throw new Error(`lrdif: LRDIF_DAWN_POLL is '${polling}'; expected paced or spin`);
  setDawnPolling(polling);
  const root = dawnRoot(webgpu, flags);
  const debug = options.debug ?? process.env.LRDIF_DEBUG === '1';
  const tuning = options.tuning ?? envTuning();
  let ctx: GpuContext;
  try {
    ctx = await createContext(root as unknown as GPU, nodeShaderSource, { ...options, debug, tuning }, root);
  } catch (e) {
    // a patch the adapter refuses: say where it came from
    if (tuning && !options.tuning && /setTuning/.test((e as Error).message)) throw new Error(`lrdif: LRDIF_TUNING: ${(e as Error).message.replace(/^lrdif: /, '')}`);
    throw e;
  }
  ctx.collectGarbage = fullCollection();
  return ctx;
}

/**
 * LRDIF_TUNING: a `ctx.setTuning` patch as JSON (e.g. '{"matmul":{"path":"portable"}}') for every
 * context this process creates, the command's included; `options.tuning` takes its place.
 */
function envTuning(): TuningPatch | undefined {
  const text = process.env.LRDIF_TUNING;
  if (!text) return undefined;
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch (e) {
    throw new Error(`lrdif: LRDIF_TUNING is not JSON (${(e as Error).message}); expected a tuning patch such as '{"matmul":{"path":"portable"}}'`);
  }
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new Error(`lrdif: LRDIF_TUNING must be a JSON object of kernel families, such as '{"matmul":{"path":"portable"}}', got ${text}`);
  }
  return patch as TuningPatch;
}

/**
 * V8's full collection, which dawn.node needs to give back the native objects of dropped bind
 * groups (GpuContext.collectGarbage); `--expose-gc` switched on at run time when node was not
 * started with it. Null where the runtime refuses.
 */
function fullCollection(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
