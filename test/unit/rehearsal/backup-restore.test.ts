import { describe, expect, it } from 'vitest';
import { revisionOfScript } from '../../../backup/alembic-revisions.ts';
import {
  healingLines,
  userMetadataOf,
  writeBackupRowsSql,
} from '../../../rehearsal/scenarios/backup-restore.ts';
import {
  STANDIN_ALEMBIC_REVISION,
  standinMigrationScript,
} from '../../../rehearsal/world/standin-dalston.ts';
import { parseBackupMetadata } from '../../../shared/backup/backup-object.ts';

describe('rehearsal backup/restore scenario', () => {
  it("stamps the stand-in checkout's own revision, so restore accepts the dump", () => {
    expect(revisionOfScript(standinMigrationScript())).toBe(STANDIN_ALEMBIC_REVISION);
    expect(writeBackupRowsSql('ab12')).toContain(
      `INSERT INTO alembic_version VALUES ('${STANDIN_ALEMBIC_REVISION}')`,
    );
  });

  it('refuses a nonce that is not hex (it goes into SQL)', () => {
    expect(() => writeBackupRowsSql("x'; DROP TABLE y")).toThrow(/nonce must be hex/);
  });

  it("reads s3rver's stored metadata as S3 returns it to the backup's readers", () => {
    const stored = JSON.stringify({
      'content-type': 'application/vnd.postgresql.pg-dump-custom',
      etag: '"abc"',
      'x-amz-meta-dalston-backup-format': 'pg_dump-custom',
      'x-amz-meta-alembic-revision': STANDIN_ALEMBIC_REVISION,
    });
    const meta = userMetadataOf(stored);
    expect(meta).toEqual({
      'dalston-backup-format': 'pg_dump-custom',
      'alembic-revision': STANDIN_ALEMBIC_REVISION,
    });
    expect(parseBackupMetadata(meta)).toMatchObject({
      complete: false,
      alembicRevision: STANDIN_ALEMBIC_REVISION,
    });
  });

  it("finds the agent's healing actions in its journal, held ones apart", () => {
    const journal = [
      '{"level":30,"msg":"reconcile","services":12}',
      '{"level":40,"service":"gateway","action":"held","wanted":"restart","reason":"exited"}',
      'Started dalston.service.',
      '{not json',
      '{"level":40,"service":"redis","action":"restart","reason":"unhealthy"}',
      '{"level":30,"msg":"compose up done"}',
    ].join('\n');
    expect(healingLines(journal)).toEqual({ healed: ['restart redis', 'compose up'], held: 1 });
    expect(healingLines('{"action":"held"}\n')).toEqual({ healed: [], held: 1 });
  });
});
