// Keep docs/assets/vendor/mermaid/ identical to the @mermaid-js/tiny that package-lock.json pins.
//
//   node vendor-mermaid.mjs           copy it (after `npm ci`, e.g. when Renovate moved the version)
//   node vendor-mermaid.mjs --check   fail when the committed copy differs
//
// The docs load this file through extra_javascript so that diagrams render with no network.

import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'node_modules', '@mermaid-js', 'tiny');
const target = join(here, '..', 'docs', 'assets', 'vendor', 'mermaid');
const files = [
  ['dist/mermaid.tiny.js', 'mermaid.tiny.js'],
  ['LICENSE', 'LICENSE'],
];

function main(check) {
  if (!existsSync(source)) {
    console.error('error: node_modules/@mermaid-js/tiny is missing: run `npm ci` in backstage/ first');
    return 2;
  }
  const { version } = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8'));
  let stale = 0;
  for (const [from, to] of files) {
    const wanted = readFileSync(join(source, from));
    const path = join(target, to);
    const same = existsSync(path) && readFileSync(path).equals(wanted);
    if (same) {
      continue;
    }
    if (check) {
      console.error(`error: docs/assets/vendor/mermaid/${to} is not @mermaid-js/tiny ${version}'s ${from}`);
      stale += 1;
    } else {
      mkdirSync(target, { recursive: true });
      copyFileSync(join(source, from), path);
      console.log(`wrote docs/assets/vendor/mermaid/${to} (@mermaid-js/tiny ${version})`);
    }
  }
  if (check && stale > 0) {
    console.error('hint: run `node vendor-mermaid.mjs` in backstage/ and commit the result');
    return 1;
  }
  if (check) {
    console.log(`ok    docs/assets/vendor/mermaid is @mermaid-js/tiny ${version}`);
  }
  return 0;
}

process.exitCode = main(process.argv.includes('--check'));
