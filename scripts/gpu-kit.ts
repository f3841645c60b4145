/**
 * `npm run gpu-kit`: writes dist/gpu-kit/lrdif-gpu-kit/ (at most 60 MiB) and
 * dist/gpu-kit/lrdif-gpu-kit.tar.xz, a folder that runs lrdif's self-test and benchmarks on a bare
 * x86-64 Linux machine with a GPU driver and nothing else (no Node, no npm, no network):
 *
 *   run.sh               sh run.sh OUT_DIR [--quick] (scripts/gpu-kit/run.sh)
 *   README.txt
 *   node.xz              this Node binary, xz-compressed (run.sh unpacks it into a temp folder)
 *   app/lrdif.mjs        one bundle (esbuild): the CLI, the self-test, the benchmark suites
 *   app/package.json     makes app/ the package root: shaders, assets and fixtures resolve as in a checkout
 *   app/shaders/         every WGSL kernel
 *   app/node_modules/webgpu/             dawn.node for linux-x64 only (and the package's loader)
 *   app/node_modules/@vladmandic/face-api/model/  face-api's weights lrdif uses
 *   app/assets/clip/     OpenAI's CLIP BPE merges
 *   app/test/golden/fixtures/lrdif.json  the golden PyTorch forward the self-test compares with
 *   app/lrdif_torch_peer.py, app/make_lrdif_fixtures.py, app/lrdif-configs.json   the PyTorch peer
 *   lib/vulkan/          Debian's libvulkan1 (used only where the machine has no Vulkan loader)
 *   lib/cxx/             Debian's libstdc++ (used only where the machine's is too old for dawn.node)
 *
 * The peers (tfjs, jax-js) stay out. Options: --out <dir> (default dist/gpu-kit), --no-tar.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { makeLrdifConfig } from '../src/models/lrdif/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_BYTES = 60 * 2 ** 20;
const NAME = 'lrdif-gpu-kit';
/** face-api's networks lrdif loads (FACEAPI_MODEL_NAMES: landmarks, expressions, the tiny detector). */
const FACEAPI_MODELS = ['face_landmark_68_model', 'face_expression_model', 'tiny_face_detector_model'];

function fail(msg: string): never {
  process.stderr.write(`gpu-kit: error: ${msg}\n`);
  process.exit(1);
}

function say(msg: string): void {
  process.stdout.write(`gpu-kit: ${msg}\n`);
}

function copy(from: string, to: string): void {
  if (!existsSync(from)) fail(`${relative(ROOT, from) || from} is missing (npm ci?)`);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `lrdif-kit:suites`: every bench/*.bench.ts, found at build time (bench/run.ts finds them at run time). */
function suitesPlugin(): Plugin {
  return {
    name: 'lrdif-kit-suites',
    setup(b) {
      b.onResolve({ filter: /^lrdif-kit:suites$/ }, () => ({ path: 'suites', namespace: 'lrdif-kit' }));
      b.onLoad({ filter: /.*/, namespace: 'lrdif-kit' }, () => {
        const files = readdirSync(join(ROOT, 'bench'))
          .filter((f) => f.endsWith('.bench.ts'))
          .sort();
        const lines = files.map((f, i) => `import * as m${i} from ${JSON.stringify(join(ROOT, 'bench', f))};`);
        lines.push(`export const suiteModules = [${files.map((_, i) => `m${i}`).join(', ')}];`);
        return { contents: lines.join('\n'), loader: 'ts', resolveDir: ROOT };
      });
    },
  };
}

/** The files of an installed Debian package (dpkg -L), or of its .deb fetched with apt-get download. */
function debianFile(pkg: string, pattern: RegExp, tmp: string): { file: string; copyright: string | null } {
  try {
    const files = execFileSync('dpkg', ['-L', pkg], { encoding: 'utf8' }).split('\n');
    const file = files.find((f) => pattern.test(f) && existsSync(f) && statSync(f).isFile());
    const copyright = files.find((f) => f.endsWith('/copyright') && existsSync(f)) ?? null;
    if (file) return { file, copyright };
  } catch {
    // not installed here: fetch it
  }
  const dir = join(tmp, pkg);
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('apt-get', ['download', pkg], { cwd: dir, stdio: 'ignore' });
    const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('no .deb downloaded');
    execFileSync('dpkg', ['-x', join(dir, deb), join(dir, 'x')]);
  } catch (e) {
    fail(`cannot get Debian's ${pkg} (not installed, and apt-get download failed: ${(e as Error).message})`);
  }
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  const all = walk(join(dir, 'x'));
  const file = all.find((f) => pattern.test(f) && statSync(f).isFile());
  if (!file) fail(`Debian's ${pkg} holds no file matching ${pattern}`);
  return { file, copyright: all.find((f) => f.endsWith('/copyright')) ?? null };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--out');
  const outDir = resolve(outIdx >= 0 ? args[outIdx + 1] : join(ROOT, 'dist', 'gpu-kit'));
  const tar = !args.includes('--no-tar');
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the kit is for x86-64 Linux and takes this machine's Node; this is ${process.platform}-${process.arch}`);
  for (const cmd of ['xz', 'tar']) if (!has(cmd)) fail(`${cmd} is needed to build the kit`);
  const t0 = performance.now();
  const kit = join(outDir, NAME);
  const app = join(kit, 'app');
  rmSync(kit, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  const tmp = join(outDir, '.tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

  // the bundle: the CLI, the self-test and the benchmarks; webgpu stays a package (its loader
  // finds dawn.node beside itself), the peers are left out
  say('bundling app/lrdif.mjs (esbuild)');
  await build({
    entryPoints: [join(ROOT, 'scripts', 'gpu-kit', 'entry.ts')],
    outfile: join(app, 'lrdif.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu', '@tensorflow/*', '@jax-js/*', 'tsx', 'tsx/*'],
    // CommonJS dependencies (Benchmark.js, commander…) call require()
    banner: { js: "import { createRequire as __lrdifCreateRequire } from 'node:module'; const require = __lrdifCreateRequire(import.meta.url);" },
    plugins: [suitesPlugin()],
    logLevel: 'warning',
    legalComments: 'none',
  });
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'lrdif', version: pkg.version, private: true, type: 'module', description: 'lrdif GPU kit: the package root of the bundle' }, null, 2)}\n`,
  );

  for (const f of readdirSync(join(ROOT, 'shaders')).filter((f) => f.endsWith('.wgsl'))) copy(join(ROOT, 'shaders', f), join(app, 'shaders', f));
  const webgpu = join(ROOT, 'node_modules', 'webgpu');
  for (const f of ['package.json', 'index.js', 'LICENSE.md', join('dist', 'linux-x64', 'dawn.node')]) copy(join(webgpu, f), join(app, 'node_modules', 'webgpu', f));
  const faceapi = join(ROOT, 'node_modules', '@vladmandic', 'face-api');
  copy(join(faceapi, 'package.json'), join(app, 'node_modules', '@vladmandic', 'face-api', 'package.json'));
  if (existsSync(join(faceapi, 'LICENSE'))) copy(join(faceapi, 'LICENSE'), join(app, 'node_modules', '@vladmandic', 'face-api', 'LICENSE'));
  for (const m of FACEAPI_MODELS) {
    for (const f of [`${m}-weights_manifest.json`, `${m}.bin`]) copy(join(faceapi, 'model', f), join(app, 'node_modules', '@vladmandic', 'face-api', 'model', f));
  }
  for (const f of ['bpe_simple_vocab_16e6.txt.gz', 'LICENSE']) copy(join(ROOT, 'assets', 'clip', f), join(app, 'assets', 'clip', f));
  copy(join(ROOT, 'test', 'golden', 'fixtures', 'lrdif.json'), join(app, 'test', 'golden', 'fixtures', 'lrdif.json'));
  copy(join(ROOT, 'bench', 'lrdif_torch_peer.py'), join(app, 'lrdif_torch_peer.py'));
  copy(join(ROOT, 'test', 'golden', 'make_lrdif_fixtures.py'), join(app, 'make_lrdif_fixtures.py'));
  // the configs bench/lrdif.bench.ts times, for the PyTorch peer
  const configs = { tiny: makeLrdifConfig('tiny', { clipDim: 32 }), reference: makeLrdifConfig('reference', { clipDim: 512 }) };
  writeFileSync(join(app, 'lrdif-configs.json'), `${JSON.stringify(configs, null, 2)}\n`);

  say('libraries: Debian libvulkan1 and libstdc++6');
  const vk = debianFile('libvulkan1', /\/libvulkan\.so\.1(\.\d+)*$/, tmp);
  copy(vk.file, join(kit, 'lib', 'vulkan', 'libvulkan.so.1'));
  if (vk.copyright) copy(vk.copyright, join(kit, 'lib', 'vulkan', 'copyright'));
  const cxx = debianFile('libstdc++6', /\/libstdc\+\+\.so\.6(\.\d+)*$/, tmp);
  copy(cxx.file, join(kit, 'lib', 'cxx', 'libstdc++.so.6'));
  if (cxx.copyright) copy(cxx.copyright, join(kit, 'lib', 'cxx', 'copyright'));

  // Node: compressed (the folder must stay under 60 MiB); cached by the binary's size and date
  const nodeBin = process.execPath;
  const st = statSync(nodeBin);
  const cache = join(outDir, '.cache', `node-${process.version}-${st.size}-${Math.round(st.mtimeMs)}.xz`);
  if (!existsSync(cache)) {
    say(`compressing ${nodeBin} (${process.version}, ${mib(st.size)}) with xz`);
    mkdirSync(dirname(cache), { recursive: true });
    execFileSync('sh', ['-c', `xz -6 -T0 -c "$1" > "$2.tmp" && mv "$2.tmp" "$2"`, 'sh', nodeBin, cache]);
  }
  copy(cache, join(kit, 'node.xz'));

  copy(join(ROOT, 'scripts', 'gpu-kit', 'run.sh'), join(kit, 'run.sh'));
  chmodSync(join(kit, 'run.sh'), 0o755);
  writeFileSync(
    join(kit, 'README.txt'),
    [
      `lrdif ${pkg.version} GPU kit (built ${new Date().toISOString().slice(0, 10)} with Node ${process.version})`,
      '',
      'Does lrdif work on this GPU, and how fast? On x86-64 Linux with a GPU driver (Vulkan):',
      '',
      '  sh run.sh OUT_DIR           the full self-test and benchmarks (a few minutes on a datacentre GPU)',
      '  sh run.sh OUT_DIR --quick   the quick self-test and a few benchmarks',
      '',
      'OUT_DIR gets info.json, selftest.json, bench.json, pytorch-cuda.json (when python3 has',
      'PyTorch with CUDA), summary.txt and logs. Nothing is installed; Node is unpacked into a',
      'temporary folder. The header of run.sh says what it needs and what it brings.',
      '',
      'The bundle is also the lrdif command: after unpacking node.xz,',
      '  node app/lrdif.mjs --help | info | selftest [--quick] [--json] [--filter op] | bench …',
      '',
    ].join('\n'),
  );

  const bytes = dirBytes(kit);
  if (bytes > MAX_BYTES) fail(`the kit is ${mib(bytes)}, more than ${mib(MAX_BYTES)}`);
  // the bundle runs with this Node: a quick check that it loads and finds its package root
  const version = execFileSync(process.execPath, [join(app, 'lrdif.mjs'), '--version'], { encoding: 'utf8', env: { ...process.env, LRDIF_CLI_CHILD: '1' } }).trim();
  if (version !== pkg.version) fail(`the bundle says its version is '${version}', expected ${pkg.version}`);
  say(
    `${kit}: ${mib(bytes)} (node.xz ${mib(statSync(join(kit, 'node.xz')).size)}, dawn.node ${mib(statSync(join(app, 'node_modules', 'webgpu', 'dist', 'linux-x64', 'dawn.node')).size)}, lrdif.mjs ${mib(statSync(join(app, 'lrdif.mjs')).size)})`,
  );
  if (tar) {
    const archive = join(outDir, `${NAME}.tar.xz`);
    execFileSync('sh', ['-c', `tar -C "$1" -cf - "$2" | xz -3 -T0 > "$3.tmp" && mv "$3.tmp" "$3"`, 'sh', outDir, NAME, archive]);
    say(`${archive}: ${mib(statSync(archive).size)}`);
  }
  rmSync(tmp, { recursive: true, force: true });
  say(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
