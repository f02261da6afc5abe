// Regenerates docs/config.md from the config schema.
import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../shared/config/docs.ts';

writeFileSync(new URL('../docs/config.md', import.meta.url), renderConfigDocs());
console.log('wrote docs/config.md');
