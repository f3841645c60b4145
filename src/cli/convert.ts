/**
 * `lrdif convert`: weights from other formats into safetensors.
 *
 *   lrdif convert --tfjs <weights_manifest.json | model.json> --out <file.safetensors> [--json]
 *
 * Every weight of the TF.js manifest is decoded (dequantised to float32 where quantised) and
 * written under its TF.js name with its TF.js shape and layout (float32 → F32, int32 → I32,
 * bool → BOOL); the metadata records the source. The write is atomic. No GPU is used.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { readTfjsWeights } from '../io/tfjs-weights-node.js';
import { writeSafetensorsFile } from '../io/safetensors-node.js';
import type { Wrap } from './command.js';

export interface ConvertOptions {
  tfjs?: string;
  out?: string;
  json?: boolean;
}

export interface ConvertResult {
  source: string;
  out: string;
  tensors: number;
  /** Values per stored type in the source (float32, uint8, uint16, float16, int32, bool). */
  storedAs: Record<string, number>;
  bytes: number;
}

export async function runConvert(opts: ConvertOptions): Promise<ConvertResult> {
  if (!opts.tfjs) throw new Error('lrdif convert: give the weights to convert with --tfjs <weights_manifest.json>');
  if (!opts.out) throw new Error('lrdif convert: give the output file with --out <file.safetensors>');
  const map = await readTfjsWeights(opts.tfjs);
  const storedAs: Record<string, number> = {};
  for (const n of map.names()) {
    const w = map.get(n);
    storedAs[w.storedAs] = (storedAs[w.storedAs] ?? 0) + w.data.length;
  }
  const entries = map.toSafetensorsEntries();
  writeSafetensorsFile(opts.out, entries, { format: 'tfjs', source: basename(opts.tfjs), converter: 'lrdif convert --tfjs' });
  const bytes = entries.reduce((s, e) => s + e.data.length * (e.dtype === 'BOOL' ? 1 : 4), 0);
  return { source: opts.tfjs, out: opts.out, tensors: entries.length, storedAs, bytes };
}

export function registerConvert(program: Command, wrap: Wrap): void {
  program
    .command('convert')
    .description('convert weights to safetensors: a TensorFlow.js manifest (dequantised; TF.js names, shapes and layouts kept)')
    .option('--tfjs <manifest>', 'a TF.js weights_manifest.json or model.json (shards beside it)')
    .option('--out <file>', 'the .safetensors file to write')
    .option('--json', 'print a JSON summary')
    .action(
      wrap(async (opts: ConvertOptions) => {
        const r = await runConvert(opts);
        if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          const kinds = Object.entries(r.storedAs)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ');
          process.stdout.write(`wrote ${r.out}: ${r.tensors} tensors, ${r.bytes} bytes of data (from ${kinds} values in ${r.source})\n`);
        }
      }),
    );
}
