// The package's manifest without `prepare`, for the time of `npm pack` /
// `npm publish`: `prepare` builds dist/ on `npm ci` in a clone, but npm warns
// on every install of a package whose manifest has one ("install scripts not
// yet covered by allowScripts"), although it runs it for none of them. The
// tarball ships dist/ instead.
//
//   node scripts/pack-manifest.js strip     (prepack, after the build)
//   node scripts/pack-manifest.js restore   (postpack)
//
// `strip` keeps the original bytes in .package.json.prepack; `restore` puts
// them back. A pack that failed between the two leaves that file: running
// `restore` puts package.json back as it was.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const MANIFEST = 'package.json';
const SAVED = '.package.json.prepack';

const mode = process.argv[2];
if (mode === 'strip') {
  if (existsSync(SAVED)) throw new Error(`${SAVED} exists: a previous pack did not finish; run node scripts/pack-manifest.js restore first`);
  const text = readFileSync(MANIFEST, 'utf8');
  const manifest = JSON.parse(text);
  delete manifest.scripts.prepare;
  writeFileSync(SAVED, text);
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
} else if (mode === 'restore') {
  if (existsSync(SAVED)) renameSync(SAVED, MANIFEST);
} else {
  throw new Error('usage: node scripts/pack-manifest.js strip|restore');
}
