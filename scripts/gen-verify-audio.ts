// Writes cli/assets/verify-tone.wav: the recording `dalston-aws verify` submits (cli/verify-audio.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toneWav, VERIFY_AUDIO_NAME } from '../cli/verify-audio.ts';

const out = fileURLToPath(new URL(`../cli/assets/${VERIFY_AUDIO_NAME}`, import.meta.url));
writeFileSync(out, toneWav());
console.log(`wrote cli/assets/${VERIFY_AUDIO_NAME}`);
