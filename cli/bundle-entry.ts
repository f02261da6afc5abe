// Entry point of the self-contained bundle (dist/dalston-aws.mjs).
import { dalstonAwsMain } from './main.ts';

const code = await dalstonAwsMain(process.argv.slice(2));
// Exit once stdout has drained: idle keep-alive sockets of the SDK clients
// must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
