/**
 * Compiled kernels: a WGSL file from `shaders/`, reflected with wgsl_reflect to build the
 * bind-group layout and the uniform layout, and to check that the TS wrapper binds exactly
 * what the shader declares.
 *
 * Conventions every shader follows:
 * - all resources in bind group 0;
 * - at most one uniform-buffer variable (any name), bound with a dynamic offset into the uniform ring;
 * - storage buffers are bound by variable name.
 */
import { WgslReflect, ResourceType, type VariableInfo, type TypeInfo, type MemberInfo } from 'wgsl_reflect/wgsl_reflect.module.js';

export type ScalarKind = 'u32' | 'i32' | 'f32';

/** Where one uniform field lives and how to write it. */
export interface UniformField {
  name: string;
  offset: number;
  kind: ScalarKind;
  /** Total scalars the field holds (1 for a scalar, 4 for a 4-vector, 4·N for an array of N 4-vectors). */
  count: number;
  /** Byte stride between consecutive scalars is always 4, except arrays of scalars (stride 16 in uniforms). */
  elementStride: number;
  /** Scalars per array element (vecN components or 1). */
  perElement: number;
}

export interface UniformLayout {
  binding: number;
  name: string;
  size: number;
  fields: Map<string, UniformField>;
}

export interface StorageBinding {
  name: string;
  binding: number;
  readOnly: boolean;
}

export interface Kernel {
  /** Label used in errors and profiles: `shader:entry` plus specialisation constants. */
  readonly label: string;
  readonly shader: string;
  readonly id: number;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly storage: StorageBinding[];
  readonly uniform: UniformLayout | null;
  readonly workgroupSize: [number, number, number];
  /** What it was built from (a helper device builds the same pipeline from it). */
  readonly request: KernelRequest;
  /** Whether the device has run it: a CPU adapter compiles a pipeline when it first runs it. */
  ran: boolean;
}

/** What a dispatch is checked against (its bindings), which a dry run has without building the pipeline. */
export type KernelChecks = Pick<Kernel, 'label' | 'shader' | 'storage' | 'uniform' | 'request'>;

const SCALARS: Record<string, ScalarKind> = { u32: 'u32', i32: 'i32', f32: 'f32' };

function scalarOf(t: TypeInfo | null | undefined, where: string): { kind: ScalarKind; n: number } {
  if (!t) throw new Error(`lrdif: cannot reflect uniform field type of ${where}`);
  const name = t.name;
  if (SCALARS[name]) return { kind: SCALARS[name], n: 1 };
  const m = /^vec([234])([uif])?$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    if (m[2]) return { kind: m[2] === 'u' ? 'u32' : m[2] === 'i' ? 'i32' : 'f32', n };
    const fmt = (t as unknown as { format?: TypeInfo }).format;
    if (fmt && SCALARS[fmt.name]) return { kind: SCALARS[fmt.name], n };
  }
  throw new Error(`lrdif: uniform field ${where} has type ${t.getTypeName?.() ?? name}; only u32/i32/f32, vecN and arrays of them are supported`);
}

function uniformLayout(v: VariableInfo, shader: string): UniformLayout {
  const fields = new Map<string, UniformField>();
  const members: MemberInfo[] = v.members ?? [];
  for (const m of members) {
    const where = `${shader}.${v.name}.${m.name}`;
    if (m.isArray) {
      const fmt = m.format;
      const s = scalarOf(fmt, where);
      fields.set(m.name, { name: m.name, offset: m.offset, kind: s.kind, count: m.count * s.n, elementStride: m.stride, perElement: s.n });
    } else {
      const s = scalarOf(m.type, where);
      fields.set(m.name, { name: m.name, offset: m.offset, kind: s.kind, count: s.n, elementStride: 4 * s.n, perElement: s.n });
    }
  }
  return { binding: v.binding, name: v.name, size: v.size, fields };
}

export interface KernelRequest {
  /** File name in shaders/, without `.wgsl`. */
  shader: string;
  /** Entry point; default `main`. */
  entry?: string;
  /** Values for `override` declarations. */
  constants?: Record<string, number>;
}

export function kernelKey(req: KernelRequest): string {
  const c = req.constants;
  const cs = c
    ? Object.keys(c)
        .sort()
        .map((k) => `${k}=${c[k]}`)
        .join(',')
    : '';
  return `${req.shader}:${req.entry ?? 'main'}${cs ? `{${cs}}` : ''}`;
}

/** Parses a shader's WGSL once; `reflectEntry` reads each entry point's bindings from it. */
export function reflectShader(code: string): WgslReflect {
  return new WgslReflect(code);
}

export function reflectEntry(shader: WgslReflect | string, req: KernelRequest) {
  const reflect = typeof shader === 'string' ? reflectShader(shader) : shader;
  const entryName = req.entry ?? 'main';
  const fn = reflect.entry.compute.find((f) => f.name === entryName);
  if (!fn) {
    const have = reflect.entry.compute.map((f) => f.name).join(', ') || 'none';
    throw new Error(`lrdif: shader ${req.shader}.wgsl has no compute entry point '${entryName}' (it has: ${have})`);
  }
  const storage: StorageBinding[] = [];
  let uniform: UniformLayout | null = null;
  // Resources used by the entry point (wgsl_reflect follows calls); fall back to all if empty.
  const resources = fn.resources.length ? fn.resources : [...reflect.storage, ...reflect.uniforms];
  for (const r of resources) {
    if (r.group !== 0) throw new Error(`lrdif: shader ${req.shader}.wgsl binds ${r.name} in bind group ${r.group}; only bind group 0 is supported`);
    if (r.resourceType === ResourceType.Uniform) {
      if (uniform) throw new Error(`lrdif: shader ${req.shader}.wgsl declares more than one uniform buffer (${uniform.name}, ${r.name})`);
      uniform = uniformLayout(r, req.shader);
    } else if (r.resourceType === ResourceType.Storage) {
      storage.push({ name: r.name, binding: r.binding, readOnly: r.access !== 'read_write' });
    } else {
      throw new Error(`lrdif: shader ${req.shader}.wgsl binds ${r.name}, a resource type lrdif kernels do not use`);
    }
  }
  const overrideNames = reflect.overrides.map((o) => o.name);
  for (const k of Object.keys(req.constants ?? {})) {
    if (!overrideNames.includes(k)) {
      throw new Error(
        `lrdif: kernel ${kernelKey(req)} sets constant '${k}', but ${req.shader}.wgsl declares no override of that name (it has: ${overrideNames.join(', ') || 'none'})`,
      );
    }
  }
  storage.sort((a, b) => a.binding - b.binding);
  const ws = fn.workgroupSize ?? [1, 1, 1];
  return { storage, uniform, workgroupSize: [ws[0] ?? 1, ws[1] ?? 1, ws[2] ?? 1] as [number, number, number] };
}
