/**
 * WGSL has no includes. A shader names a shared file on a line of its own,
 *   // #include "philox.wgsl"
 * (a comment, so the line stays valid WGSL), and the loader puts that file's text there before
 * reflection and compilation. Each file goes in once per shader, however often it is named;
 * included files may include others.
 */
import type { ShaderSource } from './context.js';

const INCLUDE = /^\s*\/\/\s*#include\s+"([^"]+)"\s*$/;

export function expandIncludes(name: string, load: ShaderSource): string {
  const done = new Set<string>([name]);
  const expand = (file: string, code: string, chain: string[]): string =>
    code
      .split('\n')
      .map((line, i) => {
        const m = INCLUDE.exec(line);
        if (!m) return line;
        const where = `shader ${file}.wgsl line ${i + 1}`;
        const inc = /^([\w-]+)\.wgsl$/.exec(m[1])?.[1];
        if (!inc) throw new Error(`lrdif: ${where}: #include wants a file of shaders/ such as "philox.wgsl", got "${m[1]}"`);
        if (chain.includes(inc)) throw new Error(`lrdif: ${where}: #include "${inc}.wgsl" makes a cycle (${[...chain, inc].map((c) => `${c}.wgsl`).join(' → ')})`);
        if (done.has(inc)) return `// (${inc}.wgsl: included above)`;
        done.add(inc);
        let text: string;
        try {
          text = load(inc);
        } catch (e) {
          throw new Error(`lrdif: ${where}: cannot include "${inc}.wgsl": ${(e as Error).message}`);
        }
        return `// ---- ${inc}.wgsl\n${expand(inc, text, [...chain, inc])}\n// ---- end of ${inc}.wgsl`;
      })
      .join('\n');
  return expand(name, load(name), [name]);
}
