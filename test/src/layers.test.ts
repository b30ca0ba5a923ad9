import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/processes.js';

/**
 * The source folders form layers, top to bottom: src/ (composition root, config, logging, ops),
 * schedulers/, bot/, db/. A module may import from its own layer and the ones below, never from
 * one above. This reads every import of every source file, so the rule stays true.
 */
const LAYERS = ['src', 'schedulers', 'bot', 'db'] as const;

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(path: string): number {
  const top = relative(PROJECT_ROOT, path).split(/[\\/]/)[0];
  return LAYERS.indexOf(top as (typeof LAYERS)[number]);
}

/** `file imports target` for every relative import that climbs to a layer above the file's. */
function upwardImports(
  files: readonly string[],
  read = (file: string) => readFileSync(file, 'utf8'),
): string[] {
  const found: string[] = [];
  for (const file of files) {
    const own = layerOf(file);
    for (const match of read(file).matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3] ?? '';
      if (!specifier.startsWith('.')) continue;
      const target = resolve(file, '..', specifier);
      const layer = layerOf(target);
      if (layer !== -1 && layer < own) {
        found.push(`${relative(PROJECT_ROOT, file)} imports ${relative(PROJECT_ROOT, target)}`);
      }
    }
  }
  return found;
}

describe('layers', () => {
  const files = LAYERS.flatMap((layer) => sourceFiles(join(PROJECT_ROOT, layer)));

  it('no source file imports from a layer above its own', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(upwardImports(files)).toEqual([]);
  });

  it('would catch an upward import, static or dynamic, type-only or not', () => {
    const fake = (from: string) => join(PROJECT_ROOT, from);
    const sources: Record<string, string> = {
      [fake('db/x.ts')]: "import type { Logger } from '../src/logger.js';\n",
      [fake('bot/y.ts')]: "export { SchedulerRuntime } from '../schedulers/runtime.js';\n",
      [fake('schedulers/z.ts')]: "const m = await import('../src/config.js');\n",
      [fake('src/ok.ts')]: "import { x } from '../db/client.js';\nimport pino from 'pino';\n",
      [fake('bot/ok.ts')]:
        "import {\n  a,\n  b,\n} from './context.js';\nimport { c } from '../db/collections.js';\n",
    };
    expect(upwardImports(Object.keys(sources), (file) => sources[file] ?? '')).toEqual([
      'db/x.ts imports src/logger.js',
      'bot/y.ts imports schedulers/runtime.js',
      'schedulers/z.ts imports src/config.js',
    ]);
  });
});
