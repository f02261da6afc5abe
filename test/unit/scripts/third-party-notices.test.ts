import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundledPackageDirs, packageNotice, renderNotices } from '../../../scripts/third-party-notices.mjs';

const root = path.join(import.meta.dirname, '../../..');

describe('third-party notices', () => {
  it('finds each package of a metafile’s inputs once, scoped and nested ones included', () => {
    const inputs = Object.fromEntries(
      [
        'shared/logger.ts',
        'node_modules/pino/pino.js',
        'node_modules/pino/lib/proto.js',
        'node_modules/@aws-sdk/client-s3/dist-cjs/index.js',
        'node_modules/dockerode/node_modules/uuid/dist/index.js',
        'node_modules/@smithy/util-utf8/node_modules/@smithy/is-array-buffer/dist-cjs/index.js',
      ].map((k) => [k, {}]),
    );
    expect(bundledPackageDirs({ inputs })).toEqual([
      'node_modules/@aws-sdk/client-s3',
      'node_modules/@smithy/util-utf8/node_modules/@smithy/is-array-buffer',
      'node_modules/dockerode/node_modules/uuid',
      'node_modules/pino',
    ]);
  });

  it('reads a real package’s version, license and license text', () => {
    const n = packageNotice(root, 'node_modules/pino');
    expect(n.name).toBe('pino');
    expect(n.license).toBe('MIT');
    expect(n.files.map((f) => f.file)).toContain('LICENSE');
    expect(n.files.find((f) => f.file === 'LICENSE')!.text).toContain('Permission is hereby granted');
  });

  it('lists each name and version once, sorted, saying when a package ships no license file', () => {
    const text = renderNotices('dalston-host 0.1.0', [
      { name: 'zod', version: '4.0.0', license: 'MIT', files: [{ file: 'LICENSE', text: 'MIT text' }] },
      { name: 'abc', version: '1.0.0', license: 'ISC', files: [] },
      { name: 'zod', version: '4.0.0', license: 'MIT', files: [{ file: 'LICENSE', text: 'MIT text' }] },
    ]);
    expect(text.match(/^zod 4\.0\.0$/gm)).toHaveLength(1);
    expect(text.indexOf('abc 1.0.0')).toBeLessThan(text.indexOf('zod 4.0.0'));
    expect(text).toContain('License: ISC\n\n(The package ships no license file');
    expect(text).toContain('--- LICENSE\nMIT text');
  });
});
