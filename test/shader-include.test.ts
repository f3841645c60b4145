/** `// #include "x.wgsl"` in shaders (src/gpu/shader-include.ts), on a loader made of strings. */
import { describe, it, expect } from 'vitest';
import { expandIncludes } from '../src/gpu/shader-include.js';
import { nodeShaderSource } from '../src/node.js';

function loader(files: Record<string, string>) {
  return (name: string) => {
    const f = files[name];
    if (f === undefined) throw new Error(`no file ${name}.wgsl`);
    return f;
  };
}

describe('shader includes', () => {
  it('puts the named file in place of the line, nested, each file once', () => {
    const load = loader({
      main: 'a\n// #include "lib.wgsl"\nb\n  //   #include   "base.wgsl"  \nc',
      lib: '// #include "base.wgsl"\nfn lib() {}',
      base: 'const BASE = 1;',
    });
    const out = expandIncludes('main', load).split('\n');
    expect(out).toEqual([
      'a',
      '// ---- lib.wgsl',
      '// ---- base.wgsl',
      'const BASE = 1;',
      '// ---- end of base.wgsl',
      'fn lib() {}',
      '// ---- end of lib.wgsl',
      'b',
      '// (base.wgsl: included above)',
      'c',
    ]);
  });

  it('leaves other comments and a file without includes alone', () => {
    const code = '// include "x.wgsl"\n// #include x.wgsl\nfn f() {} // #include "y.wgsl"';
    expect(expandIncludes('main', loader({ main: code }))).toBe(code);
  });

  it('names the shader and line of a missing file, a bad name and a cycle', () => {
    expect(() => expandIncludes('main', loader({ main: 'x\n// #include "gone.wgsl"' }))).toThrow('lrdif: shader main.wgsl line 2: cannot include "gone.wgsl": no file gone.wgsl');
    expect(() => expandIncludes('main', loader({ main: '// #include "../etc/passwd"' }))).toThrow(
      'lrdif: shader main.wgsl line 1: #include wants a file of shaders/ such as "philox.wgsl", got "../etc/passwd"',
    );
    expect(() => expandIncludes('a', loader({ a: '// #include "b.wgsl"', b: 'y\n// #include "a.wgsl"' }))).toThrow(
      'lrdif: shader b.wgsl line 2: #include "a.wgsl" makes a cycle (a.wgsl → b.wgsl → a.wgsl)',
    );
  });

  it("gives the random shaders one Philox: philox.wgsl's functions appear once in each, defined nowhere else", () => {
    for (const name of ['random', 'ddpm', 'ddpm_sg', 'degrade']) {
      const own = nodeShaderSource(name);
      expect(own, name).not.toMatch(/^fn (mulhi|philox|box_muller)\(/m);
      const code = expandIncludes(name, nodeShaderSource);
      expect(code.match(/^fn philox\(/gm), name).toHaveLength(1);
      expect(code.match(/^const M0:/gm), name).toHaveLength(1);
    }
  });
});
