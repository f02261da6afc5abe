import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * shared/logger.ts in a real process: systemd sets JOURNAL_STREAM to the
 * device:inode of the stdout it connects to the journal; here stdout is a file
 * and JOURNAL_STREAM names it (or not), as journald would see it.
 */
describe('logger under JOURNAL_STREAM (a real child process)', () => {
  it('prefixes priorities and drops time only when JOURNAL_STREAM names its stdout', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'journal-stream-'));
    try {
      const script = path.join(dir, 'log.ts');
      const logger = path.join(import.meta.dirname, '../../../shared/logger.ts');
      await writeFile(
        script,
        `import { createLogger } from ${JSON.stringify(logger)};\ncreateLogger().error('boom');\n`,
      );
      const run = async (journalStream: (file: string) => Promise<string | undefined>) => {
        const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
        const fd = await open(out, 'w');
        try {
          const env = { ...process.env, JOURNAL_STREAM: await journalStream(out) };
          if (env.JOURNAL_STREAM === undefined) delete env.JOURNAL_STREAM;
          await new Promise<void>((resolve, reject) => {
            const child = spawn(process.execPath, ['--import', 'tsx', script], {
              env,
              stdio: ['ignore', fd.fd, 'inherit'],
            });
            child.on('error', reject);
            child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
          });
        } finally {
          await fd.close();
        }
        return readFile(out, 'utf8');
      };
      const ofFile = async (file: string) => {
        const st = await stat(file, { bigint: true });
        return `${st.dev}:${st.ino}`;
      };
      const journal = await run(ofFile);
      expect(journal).toMatch(/^<3>\{"level":"error"/);
      expect(journal).not.toContain('"time"');
      const inherited = await run(async () => `${(await ofFile(script)).split(':')[0]}:1`);
      expect(inherited).toMatch(/^\{"level":"error","time":/);
      const plain = await run(async () => undefined);
      expect(plain).toMatch(/^\{"level":"error","time":/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
