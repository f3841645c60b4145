/** The GPU kit build's virtual module: every bench/*.bench.ts, imported (scripts/gpu-kit.ts). */
declare module 'lrdif-kit:suites' {
  export const suiteModules: Array<Record<string, unknown>>;
}
