// The paired-timing peer protocol (bench/served-peer.ts) against small stand-in children, and the
// PyTorch peer's --serve mode itself where PyTorch is installed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ServedPeer } from '../bench/served-peer.js';
import { makeLrdifConfig } from '../src/models/lrdif/index.js';

// a stand-in peer: ready line, then per request k answers of 1, 2, ... ms; case "bad" answers an error,
// case "garbled" an unreadable line, case "die" exits without answering
const FAKE = `
const rl = require('node:readline').createInterface({ input: process.stdin });
console.log(JSON.stringify({ ready: true, name: 'fake' }));
let t = 0;
rl.on('line', (l) => {
  const r = JSON.parse(l);
  if (r.case === 'bad') return console.log(JSON.stringify({ error: 'no such case' }));
  if (r.case === 'garbled') return console.log('not json');
  if (r.case === 'short') return console.log(JSON.stringify({ ms: [] }));
  if (r.case === 'die') { process.stderr.write('Traceback...\\nRuntimeError: out of memory\\n'); process.exit(3); }
  const ms = []; for (let i = 0; i < r.n; i++) ms.push(++t);
  console.log(JSON.stringify({ ms, cpu_ms: ms.map((x) => 2 * x) }));
});
`;

const start = () => ServedPeer.start(process.execPath, ['-e', FAKE], { label: 'the fake peer', readyMs: 20_000 });

describe('ServedPeer', () => {
  it('reads the ready line, then one answer per request, in order', async () => {
    const { peer, info } = await start();
    expect(info).toEqual({ ready: true, name: 'fake' });
    expect(await peer.time('a', 2)).toEqual([
      { ms: 1, cpuMs: 2 },
      { ms: 2, cpuMs: 4 },
    ]);
    const [x, y] = await Promise.all([peer.time('a'), peer.time('b')]);
    expect([x[0].ms, y[0].ms]).toEqual([3, 4]);
    peer.close();
    await expect(peer.time('a')).rejects.toThrow(/the fake peer: closed/);
  });

  it('names the peer and what it said when a request fails', async () => {
    const { peer } = await start();
    await expect(peer.time('bad')).rejects.toThrow('the fake peer: no such case');
    await expect(peer.time('garbled')).rejects.toThrow('the fake peer: unreadable answer: not json');
    await expect(peer.time('short', 1)).rejects.toThrow(/case short: expected \{"ms": \[1 numbers\]\}/);
    // still serving after those
    expect((await peer.time('a'))[0].ms).toBe(1);
    await expect(peer.time('die')).rejects.toThrow('the fake peer ended (exit 3): RuntimeError: out of memory');
    await expect(peer.time('a')).rejects.toThrow(/exit 3/);
  });

  it('rejects a child that cannot start or ends before it is ready, with the cause', async () => {
    await expect(ServedPeer.start('/nonexistent/python3', [], { label: 'the peer' })).rejects.toThrow('the peer could not run: spawn /nonexistent/python3 ENOENT');
    await expect(
      ServedPeer.start(process.execPath, ['-e', 'process.stderr.write("ModuleNotFoundError: No module named \'torch\'\\n"); process.exit(1)'], {
        label: 'the peer',
        explain: (s) => (/No module named 'torch'/.test(s) ? 'PyTorch is not installed' : null),
      }),
    ).rejects.toThrow('the peer: PyTorch is not installed');
    await expect(ServedPeer.start(process.execPath, ['-e', 'console.log(JSON.stringify({ hello: 1 }))'], { label: 'the peer' })).rejects.toThrow(
      /expected a ready line first, got \{"hello":1\}/,
    );
  });

  it('gives up on a child that does not answer in time, and kills it', async () => {
    const { peer } = await ServedPeer.start(process.execPath, ['-e', 'console.log(JSON.stringify({ ready: true })); setInterval(() => {}, 1000)'], { label: 'the slow peer' });
    await expect(peer.time('a', 1, 300)).rejects.toThrow('the slow peer: no answer for case a within 300 ms (killed)');
  });
});

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!hasTorch)('the PyTorch peer in --serve mode', () => {
  it('builds the tiny model once and times each case on request', async () => {
    const script = fileURLToPath(new URL('../bench/lrdif_torch_peer.py', import.meta.url));
    const { peer, info } = await ServedPeer.start('/usr/bin/python3', [script, '--serve', JSON.stringify({ config: makeLrdifConfig('tiny'), batch: 2, threads: 1 })], {
      label: 'the PyTorch peer',
    });
    try {
      expect(info).toMatchObject({ ready: true, threads: 1 });
      for (const c of ['stage1', 'infer']) {
        const s = await peer.time(c, 2);
        expect(s).toHaveLength(2);
        for (const x of s) {
          expect(x.ms).toBeGreaterThan(0);
          expect(x.cpuMs).toBeGreaterThan(0);
        }
      }
      await expect(peer.time('stage3')).rejects.toThrow("the PyTorch peer: unknown case 'stage3' (expected one of stage1, stage2, infer)");
    } finally {
      peer.close();
    }
  }, 120_000);
});
