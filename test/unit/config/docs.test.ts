import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../../../shared/config/docs.ts';
import { parseConfig } from '../../../shared/config/load.ts';

describe('docs/config.md', () => {
  const docs = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');

  it('is the rendering of the current schema (run `npm run docs:config` after changing it)', () => {
    expect(docs).toBe(renderConfigDocs());
  });

  it('documents every leaf key of the defaults', () => {
    const leaves: string[] = [];
    const walk = (v: unknown, prefix: string) => {
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        for (const [k, child] of Object.entries(v)) walk(child, prefix ? `${prefix}.${k}` : k);
      } else leaves.push(prefix);
    };
    walk(parseConfig({}), '');
    expect(leaves.length).toBeGreaterThan(20);
    for (const key of leaves) expect(docs).toContain(`\`${key}\``);
  });
});
