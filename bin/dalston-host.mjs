#!/usr/bin/env node
// Checkout launcher: runs the TypeScript sources through tsx. Hosts run the
// self-contained bundle dist/dalston-host.mjs instead (npm run build).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../commands/main.ts');
const code = await main(process.argv.slice(2));
// Same as the bundle: a finished command exits even if an SDK socket lingers.
process.stdout.write('', () => process.exit(code));
