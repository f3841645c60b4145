/**
 * Vite config of the lrdif web app (web/): `npm run web` serves it, `npm run build:web` writes
 * the bundle to dist/web-app/.
 *
 * - Shaders: web/src/gpu.ts bundles shaders/*.wgsl with import.meta.glob (`?raw`).
 * - Static assets from outside web/ (served in dev, copied into the bundle): face-api's tiny face
 *   detector and 68-point landmark weights from node_modules/@vladmandic/face-api/model/ under
 *   /models/faceapi/, OpenAI's CLIP BPE merges under /assets/clip/, and the shipped pretrained
 *   models (every file under assets/models/<model>/, src/pretrained) under /assets/models/.
 * - The browser guard: the library's core must import nothing Node-only. Any import of a Node
 *   built-in (`node:fs`, `fs`, …) or of dawn.node (`webgpu`) reached from the page fails the
 *   build (and the dev server) with the importing file named.
 * - Benchmarks: `virtual:lrdif-bench-suites` lists bench/*.bench.ts; a suite whose own imports
 *   are Node-only (a `*-node.js` module, a Node built-in) is left out with the reason. In bench
 *   files `../src/node.js` resolves to the browser entry src/index.ts (the suites use only what
 *   both export), and bench/harness.ts's file-writing imports (node:fs, node:path, node:url; used
 *   only by `writeJson`, which the page never calls) resolve to stubs that throw if called.
 */
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const WEB = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(WEB, '..');
const BENCH = join(ROOT, 'bench');
const FACEAPI_MODEL_DIR = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'model');

/** URL path → file, for the assets the page fetches. */
export const WEB_ASSETS: Record<string, string> = {
  'models/faceapi/tiny_face_detector_model-weights_manifest.json': join(FACEAPI_MODEL_DIR, 'tiny_face_detector_model-weights_manifest.json'),
  'models/faceapi/tiny_face_detector_model.bin': join(FACEAPI_MODEL_DIR, 'tiny_face_detector_model.bin'),
  'models/faceapi/face_landmark_68_model-weights_manifest.json': join(FACEAPI_MODEL_DIR, 'face_landmark_68_model-weights_manifest.json'),
  'models/faceapi/face_landmark_68_model.bin': join(FACEAPI_MODEL_DIR, 'face_landmark_68_model.bin'),
  'models/faceapi/face_expression_model-weights_manifest.json': join(FACEAPI_MODEL_DIR, 'face_expression_model-weights_manifest.json'),
  'models/faceapi/face_expression_model.bin': join(FACEAPI_MODEL_DIR, 'face_expression_model.bin'),
  'assets/clip/bpe_simple_vocab_16e6.txt.gz': join(ROOT, 'assets', 'clip', 'bpe_simple_vocab_16e6.txt.gz'),
  ...shippedModelFiles(),
};

/** URL path → file of every file of the shipped models (assets/models/<model>/…; none when not packaged). */
function shippedModelFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const dir = join(ROOT, rel);
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue; // a packaging run's temp folder
      if (e.isDirectory()) walk(`${rel}/${e.name}`);
      else out[`${rel}/${e.name}`] = join(dir, e.name);
    }
  };
  walk('assets/models');
  return out;
}

function contentType(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

/** Serves WEB_ASSETS in dev and preview-less builds; copies them into the bundle. */
function webAssets(): Plugin {
  return {
    name: 'lrdif-web-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0].replace(/^\/+/, '');
        const file = WEB_ASSETS[url];
        if (!file) return next();
        try {
          const body = readFileSync(file);
          res.setHeader('Content-Type', contentType(file));
          res.setHeader('Content-Length', String(body.length));
          res.end(body);
        } catch (e) {
          res.statusCode = 404;
          res.end(`lrdif web: cannot read ${file}: ${(e as Error).message}`);
        }
      });
    },
    generateBundle() {
      for (const [fileName, file] of Object.entries(WEB_ASSETS)) {
        this.emitFile({ type: 'asset', fileName, source: readFileSync(file) });
      }
    },
  };
}

const NODE_ONLY = new Set([...builtinModules, 'webgpu']);
const isNodeOnly = (id: string) => id.startsWith('node:') || NODE_ONLY.has(id) || NODE_ONLY.has(id.split('/')[0]);
const HARNESS_STUBS = new Set(['node:fs', 'node:path', 'node:url']);
const STUB_PREFIX = '\0lrdif-node-stub:';
const SUITES_ID = 'virtual:lrdif-bench-suites';

/** The module specifiers a source file imports (static and dynamic), by a plain scan. */
function importSpecifiers(code: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    const full = m[0];
    if (/^\s*[;\n]?\s*(?:import|export)\s+type\s/.test(full)) continue; // erased
    out.push(m[1] ?? m[2]);
  }
  return out;
}

/** Why a bench file cannot run in a page (null when it can). */
export function benchFileNodeOnlyReason(code: string): string | null {
  for (const s of importSpecifiers(code)) {
    if (isNodeOnly(s)) return `imports the Node module ${s}`;
    if (/-node(\.js|\.ts)?$/.test(s)) return `imports ${s} (a Node loader)`;
  }
  return null;
}

function browserGuard(): Plugin {
  return {
    name: 'lrdif-browser-guard',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (source === SUITES_ID) return `\0${SUITES_ID}`;
      if (!importer) return null;
      const imp = importer.split('?')[0];
      if (imp.startsWith(BENCH)) {
        if (imp === join(BENCH, 'harness.ts') && HARNESS_STUBS.has(source)) return `${STUB_PREFIX}${source}`;
        if (/^\.\.\/src\/node\.js$/.test(source)) return join(ROOT, 'src', 'index.ts');
      }
      // third-party packages guard their own Node branches (Vite stubs those imports)
      if (isNodeOnly(source) && !imp.includes('/node_modules/')) {
        const rel = imp.startsWith(ROOT) ? imp.slice(ROOT.length + 1) : imp;
        this.error(`lrdif web: ${rel} imports the Node-only module '${source}'; code the page uses must import nothing Node-only (keep it in a *-node.ts adapter)`);
      }
      return null;
    },
    load(id) {
      if (id.startsWith(STUB_PREFIX)) {
        const mod = id.slice(STUB_PREFIX.length);
        const names = mod === 'node:fs' ? ['mkdirSync', 'renameSync', 'writeFileSync'] : mod === 'node:path' ? ['dirname', 'join'] : ['fileURLToPath'];
        return names.map((n) => `export function ${n}() { throw new Error('${mod} ${n} is not available in the browser'); }`).join('\n');
      }
      if (id === `\0${SUITES_ID}`) {
        const files = readdirSync(BENCH)
          .filter((f) => f.endsWith('.bench.ts'))
          .sort();
        const loaders: string[] = [];
        const excluded: Array<{ file: string; reason: string }> = [];
        for (const f of files) {
          const reason = benchFileNodeOnlyReason(readFileSync(join(BENCH, f), 'utf8'));
          if (reason) excluded.push({ file: f, reason });
          else loaders.push(`  ${JSON.stringify(f)}: () => import(${JSON.stringify(join(BENCH, f))}),`);
        }
        return `export const suiteFiles = {\n${loaders.join('\n')}\n};\nexport const excludedSuiteFiles = ${JSON.stringify(excluded)};\n`;
      }
      return null;
    },
  };
}

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export default defineConfig({
  root: WEB,
  define: { __LRDIF_VERSION__: JSON.stringify(VERSION) },
  base: './',
  publicDir: false,
  plugins: [browserGuard(), webAssets()],
  server: { host: '127.0.0.1', port: 5173, fs: { allow: [ROOT] } },
  preview: { host: '127.0.0.1', port: 4173 },
  build: {
    outDir: join(ROOT, 'dist', 'web-app'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
    // the library's messages name classes (e.g. "loadStateDict into LrdifModel"): keep the names
    rolldownOptions: { output: { keepNames: true } },
  },
  logLevel: 'warn',
});
