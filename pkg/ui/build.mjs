// Builds the UI from web/ into a directory the Go package embeds:
//
//   <out>/index.html         the page, with <base href="/"> for the server to rewrite
//   <out>/static/app.js      one bundle: the app, CodeMirror, codemirror-promql, uPlot
//   <out>/static/app.css     the styles, uPlot's included
//   <out>/static/licenses.txt the licenses of the bundled packages
//
// The built files are committed, so the build must give the same bytes every
// time from the same sources and lockfile: no source maps (they name local
// paths), no timestamps, no content hashes in names.
//
//   node build.mjs <out>           build into <out> (replacing it)
//   node build.mjs --check <out>   build into a temporary directory and fail
//                                  if it differs from <out> in any byte
import { build } from 'esbuild';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

async function buildInto(out) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'static'), { recursive: true });
  const result = await build({
    absWorkingDir: here,
    entryPoints: ['web/src/main.ts'],
    entryNames: 'app',
    outdir: join(out, 'static'),
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2020'],
    charset: 'utf8',
    legalComments: 'eof',
    sourcemap: false,
    logLevel: 'warning',
    metafile: true,
  });
  writeFileSync(join(out, 'index.html'), readFileSync(join(here, 'web/index.html')));
  writeFileSync(join(out, 'static/licenses.txt'), licenses(Object.keys(result.metafile.inputs)));
}

// licenses lists each npm package that went into the bundle with its
// license text, as their licenses ask of anyone who redistributes them.
function licenses(inputs) {
  const dirs = new Set();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) dirs.add(m[1]);
  }
  const parts = [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(join(here, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(here, dir)).sort().find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f));
    const text = file ? readFileSync(join(here, dir, file), 'utf8').trim() : `License: ${pkg.license}`;
    return `${pkg.name} ${pkg.version} (${pkg.license})\n\n${text}\n`;
  });
  return parts.join('\n' + '-'.repeat(72) + '\n\n');
}

// files lists every file under dir, as paths relative to it, sorted.
function files(dir, sub = '') {
  if (!existsSync(join(dir, sub))) return [];
  return readdirSync(join(dir, sub), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, join(sub, e.name)) : [join(sub, e.name)]))
    .sort();
}

// differences names the files that are missing, extra or changed in got.
function differences(want, got) {
  const w = files(want);
  const g = files(got);
  const out = [];
  for (const f of new Set([...w, ...g])) {
    if (!w.includes(f)) out.push(`${f}: not in the fresh build`);
    else if (!g.includes(f)) out.push(`${f}: missing`);
    else if (!readFileSync(join(want, f)).equals(readFileSync(join(got, f)))) out.push(`${f}: differs`);
  }
  return out.sort();
}

const args = process.argv.slice(2);
const check = args[0] === '--check';
const target = args[check ? 1 : 0];
if (!target || args.length !== (check ? 2 : 1)) {
  console.error('usage: node build.mjs [--check] <out-dir>');
  process.exit(2);
}
const out = resolve(target);

if (!check) {
  await buildInto(out);
  console.log(`built ${files(out).map((f) => join(relative(process.cwd(), out), f)).join(', ')}`);
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'tandem-ui-'));
  try {
    await buildInto(tmp);
    const diff = differences(tmp, out);
    if (diff.length) {
      console.error(`${relative(process.cwd(), out) || '.'} is not what the sources build:`);
      for (const d of diff) console.error('  ' + d);
      console.error('run `make ui` and commit the result');
      process.exit(1);
    }
    console.log(`${relative(process.cwd(), out) || '.'} matches a fresh build`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
