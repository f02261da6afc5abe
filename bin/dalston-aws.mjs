#!/usr/bin/env node
// Development launcher: runs the operator CLI's TypeScript sources through tsx (slow to start).
// The installed `dalston-aws` is the bundle, dist/dalston-aws.mjs (package.json bin).
import { register } from 'tsx/esm/api';

register();
const { dalstonAwsMain } = await import('../cli/main.ts');
const code = await dalstonAwsMain(process.argv.slice(2));
process.exitCode = code;
// Exit once stdout is flushed: idle SDK keep-alive sockets must not hold the CLI open.
process.stdout.write('', () => process.exit(code));
