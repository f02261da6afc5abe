// Entry point of the bundle (dist/dalston-aws.mjs, its chunks beside it). It imports nothing else
// statically, so the compile cache is on before any other part of the CLI is compiled.
import module from 'node:module';

// Node ≥ 22.8 keeps V8's compiled code on disk (in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1
// turns it off), so a command's chunks, the AWS SDK above all, are not compiled afresh at every run.
// Node 20 has no such cache: there the call is absent and skipped.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { dalstonAwsMain } = await import('./main.ts');
const code = await dalstonAwsMain(process.argv.slice(2));
// Exit once stdout has drained: idle keep-alive sockets of the SDK clients
// must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
