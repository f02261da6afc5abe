#!/usr/bin/env node
// Checkout launcher: runs the operator CLI's TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { dalstonAwsMain } = await import('../cli/main.ts');
const code = await dalstonAwsMain(process.argv.slice(2));
process.exitCode = code;
// Exit once stdout is flushed: idle SDK keep-alive sockets must not hold the CLI open.
process.stdout.write('', () => process.exit(code));
