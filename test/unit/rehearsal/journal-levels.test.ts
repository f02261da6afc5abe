import { describe, expect, it } from 'vitest';
import { journalLevelProblems, pinoJournalEntries } from '../../../rehearsal/product/journal-levels.ts';

const line = (priority: number, message: string) =>
  JSON.stringify({ PRIORITY: String(priority), MESSAGE: message, _SYSTEMD_UNIT: 'dalston.service' });

describe('rehearsal: journald priorities of pino lines', () => {
  it('reads pino lines and skips systemd’s own', () => {
    const out = [
      line(4, '{"level":"warn","name":"dalston-agent","msg":"stopping redis: data volume missing"}'),
      line(6, 'Started dalston.service'),
      'not json',
      '',
    ].join('\n');
    expect(pinoJournalEntries(out)).toEqual([
      {
        priority: 4,
        level: 'warn',
        msg: 'stopping redis: data volume missing',
        keys: ['level', 'name', 'msg'],
      },
    ]);
  });

  it('accepts lines at their level’s priority without time or pid', () => {
    const entries = pinoJournalEntries(
      [line(3, '{"level":"error","msg":"a"}'), line(4, '{"level":"warn","msg":"b"}')].join('\n'),
    );
    expect(journalLevelProblems(entries)).toEqual([]);
  });

  it('names a line filed at info although it is an error, and a duplicated time', () => {
    const entries = pinoJournalEntries(
      [line(6, '{"level":"error","msg":"boom"}'), line(6, '{"level":"info","time":"t","msg":"x"}')].join(
        '\n',
      ),
    );
    expect(journalLevelProblems(entries)).toEqual([
      '"boom" (error) at priority 6, not 3',
      '"x" repeats time, which the journal records',
    ]);
  });
});
