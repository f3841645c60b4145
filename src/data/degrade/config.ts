/** Validation helpers for the degradation configurations: errors name the field at fault. */

export type Range = [number, number];

export function fail(where: string, want: string, got: unknown): never {
  throw new Error(`lrdif: ${where}: expected ${want}, got ${JSON.stringify(got)}`);
}

/** A [lo, hi] range with min ≤ lo ≤ hi ≤ max. */
export function checkRange(where: string, v: unknown, min: number, max: number): Range {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x)) || v[0] > v[1] || v[0] < min || v[1] > max) {
    fail(where, `a range [lo, hi] with ${min} ≤ lo ≤ hi ≤ ${max}`, v);
  }
  return [v[0], v[1]];
}

export function checkBool(where: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(where, 'true or false', v);
  return v;
}

export function checkNumber(where: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(where, `a number in [${min}, ${max}]`, v);
  return v;
}

/** Rejects keys that the defaults do not have (typos in a config file). */
export function checkKeys(where: string, given: object, known: object): void {
  for (const k of Object.keys(given)) {
    if (!Object.hasOwn(known, k)) fail(`${where}.${k}`, `one of the fields ${Object.keys(known).join(', ')}`, k);
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
