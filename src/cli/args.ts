/** Parsers of command-line values; errors name the command, the flag and what was expected. */
import { readFileSync } from 'node:fs';
import { CANONICAL_CLASSES } from '../data/datasets/types.js';

export function intArg(cmd: string, name: string, min: number, max = Infinity) {
  return (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(`lrdif: ${cmd}: --${name} must be an integer ${max < Infinity ? `from ${min} to ${max}` : `≥ ${min}`}, got '${v}'`);
    }
    return n;
  };
}

export function numArg(cmd: string, name: string, min: number, max = Infinity, exclusiveMin = false) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (exclusiveMin ? n <= min : n < min) || n > max) {
      throw new Error(`lrdif: ${cmd}: --${name} must be a number ${exclusiveMin ? '>' : '≥'} ${min}${max < Infinity ? ` and ≤ ${max}` : ''}, got '${v}'`);
    }
    return n;
  };
}

export function choiceArg<T extends string>(cmd: string, name: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v)) throw new Error(`lrdif: ${cmd}: --${name} must be one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/** --set field=value (value parsed as JSON when it can be: numbers, booleans, arrays). */
export function collectSet(cmd: string) {
  return (v: string, prev: Record<string, unknown>): Record<string, unknown> => {
    const eq = v.indexOf('=');
    if (eq < 1) throw new Error(`lrdif: ${cmd}: --set takes field=value (a config field, e.g. timesteps=8 or blocks=[1,1,1,1]), got '${v}'`);
    const key = v.slice(0, eq).trim();
    const raw = v.slice(eq + 1).trim();
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a bare string such as lowlight
    }
    return { ...prev, [key]: value };
  };
}

export function readJsonFile(cmd: string, what: string, file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`lrdif: ${cmd}: cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`lrdif: ${cmd}: ${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** --classes neutral,happiness,…: canonical class names, in label order. */
export function classListArg(cmd: string) {
  return (v: string): string[] => {
    const list = v.split(',').map((c) => c.trim());
    const bad = list.filter((c) => !(CANONICAL_CLASSES as readonly string[]).includes(c));
    if (bad.length)
      throw new Error(`lrdif: ${cmd}: --classes takes canonical class names separated by commas (${CANONICAL_CLASSES.join(', ')}), got ${bad.map((c) => `'${c}'`).join(', ')}`);
    return list;
  };
}
