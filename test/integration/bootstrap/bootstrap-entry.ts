// A tiny entry so tests run the bootstrap as its own process (real exit codes),
// independent of the release bundle's dispatcher.
import { bootstrapCommand } from '../../../bootstrap/command.ts';

process.exitCode = await bootstrapCommand(process.argv.slice(2));
