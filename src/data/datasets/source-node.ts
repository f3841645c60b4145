/** Node adapter for the dataset loaders: file access through node:fs and decoding with jpeg-js/fast-png. */
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { decodeImage } from '../../io/image-node.js';
import type { DataSource } from './types.js';

export function nodeDataSource(): DataSource {
  return {
    readText: (path) => readFile(path, 'utf8'),
    readBytes: async (path) => new Uint8Array(await readFile(path)),
    async *lines(path) {
      const stream = createReadStream(path, { encoding: 'utf8' });
      const rl = createInterface({ input: stream, crlfDelay: Infinity });
      try {
        for await (const line of rl) yield line;
      } finally {
        rl.close();
        stream.destroy();
      }
    },
    async listDir(path) {
      const entries = await readdir(path, { withFileTypes: true });
      return entries.map((e) => ({ name: e.name, isDirectory: e.isDirectory() }));
    },
    async isDirectory(path) {
      try {
        return (await stat(path)).isDirectory();
      } catch {
        return false;
      }
    },
    decodeImage: (bytes, name) => decodeImage(bytes, name),
  };
}
