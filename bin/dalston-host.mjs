#!/usr/bin/env node
// Checkout launcher: runs the TypeScript sources through tsx. Hosts run the
// self-contained bundle dist/dalston-host.mjs instead (npm run build).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../commands/main.ts');
process.exitCode = await main(process.argv.slice(2));
