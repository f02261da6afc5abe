// Entry point of the self-contained bundle (dist/dalston-host.mjs).
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
// Exit explicitly once stdout has drained: keep-alive sockets of SDK clients
// must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
