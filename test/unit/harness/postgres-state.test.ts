import { describe, expect, it } from 'vitest';
import {
  clusterState,
  crashRecoveryLines,
  lastStartLog,
  parseControlData,
  startedFromCleanShutdown,
} from '../../harness/postgres-state.ts';

// Lines as Debian's Postgres 15 prints them (captured from the test image).
const CONTROL = `pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7578290178271940633
Database cluster state:               shut down
pg_control last modified:             Tue 01 Dec 2026 10:21:25 PM UTC
Latest checkpoint location:           0/1937FB0
`;

const INIT_THEN_CLEAN = `2026-12-01 22:21:13.292 UTC [32] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu
2026-12-01 22:21:13.310 UTC [35] LOG:  database system was shut down at 2026-12-01 22:21:12 UTC
2026-12-01 22:21:13.787 UTC [32] LOG:  database system is shut down
PostgreSQL init process complete; ready for start up.
2026-12-01 22:21:13.894 UTC [1] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu
2026-12-01 22:21:13.913 UTC [45] LOG:  database system was shut down at 2026-12-01 22:21:13 UTC
2026-12-01 22:21:13.937 UTC [1] LOG:  database system is ready to accept connections`;

const CRASHED = `2026-12-01 22:21:33.560 UTC [1] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu
2026-12-01 22:21:33.576 UTC [15] LOG:  database system was interrupted; last known up at 2026-12-01 22:21:29 UTC
2026-12-01 22:21:33.695 UTC [15] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-01 22:21:33.699 UTC [15] LOG:  redo is not required
2026-12-01 22:21:33.734 UTC [1] LOG:  database system is ready to accept connections`;

describe('pg_controldata', () => {
  it('reads the cluster state and other fields', () => {
    expect(clusterState(CONTROL)).toBe('shut down');
    expect(parseControlData(CONTROL)['Latest checkpoint location']).toBe('0/1937FB0');
    expect(clusterState(CONTROL.replace('shut down', 'in production'))).toBe('in production');
    expect(clusterState('pg_controldata: error: could not open file')).toBeUndefined();
  });
});

describe('Postgres start log', () => {
  it("takes the last start only (the entrypoint's init server logs one too)", () => {
    const last = lastStartLog(INIT_THEN_CLEAN);
    expect(last.split('\n')[0]).toContain('[1] LOG:  starting PostgreSQL');
    expect(last).not.toContain('init process complete');
    expect(lastStartLog('no postgres here')).toBe('');
  });

  it('a start after a clean shutdown has no crash recovery; after a kill it has', () => {
    expect(startedFromCleanShutdown(lastStartLog(INIT_THEN_CLEAN))).toBe(true);
    expect(crashRecoveryLines(lastStartLog(INIT_THEN_CLEAN))).toEqual([]);
    const crash = lastStartLog(`${INIT_THEN_CLEAN}\n${CRASHED}`);
    expect(startedFromCleanShutdown(crash)).toBe(false);
    expect(crashRecoveryLines(crash)).toHaveLength(2);
  });
});
