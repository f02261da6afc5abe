/**
 * The short test recording `dalston-aws verify` submits: a 16 kHz mono 16-bit PCM
 * WAV of a 440 Hz tone fading in and out, built here byte for byte (deterministic,
 * no asset to find at run time). `npm run gen:verify-audio` writes the same bytes
 * to cli/assets/verify-tone.wav for the README's curl example; a test keeps the two equal.
 */
export const VERIFY_AUDIO_NAME = 'verify-tone.wav';

export function toneWav(opts: { ms?: number; hz?: number; sampleRate?: number } = {}): Buffer {
  const ms = opts.ms ?? 800;
  const hz = opts.hz ?? 440;
  const rate = opts.sampleRate ?? 16_000;
  const samples = Math.round((rate * ms) / 1000);
  const data = samples * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16); // PCM header size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  const fade = Math.min(samples / 2, rate / 20); // 50 ms ramps: no click at either end
  for (let i = 0; i < samples; i++) {
    const env = Math.min(1, i / fade, (samples - 1 - i) / fade);
    const v = Math.round(0.3 * 32767 * env * Math.sin((2 * Math.PI * hz * i) / rate));
    b.writeInt16LE(v, 44 + i * 2);
  }
  return b;
}
