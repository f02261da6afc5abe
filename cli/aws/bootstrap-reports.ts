import {
  type BootstrapReport,
  bootstrapReportKey,
  parseBootstrapReport,
} from '../../shared/status/bootstrap-report.ts';
import type { ObjectReader } from './snapshots.ts';

export type BootstrapRead =
  | { kind: 'ok'; report: BootstrapReport; key: string }
  | { kind: 'missing'; key: string }
  | { kind: 'malformed'; key: string; reason: string };

/** The host's last bootstrap result (`<prefix><instance>/bootstrap.json`); throws a HostError like getText. */
export async function readBootstrapReport(
  reader: ObjectReader,
  bucket: string,
  statusPrefix: string,
  instanceId: string,
): Promise<BootstrapRead> {
  const key = bootstrapReportKey(statusPrefix, instanceId);
  const obj = await reader.getText(bucket, key);
  if (!obj) return { kind: 'missing', key };
  const r = parseBootstrapReport(obj.body);
  return r.kind === 'ok'
    ? { kind: 'ok', report: r.report, key }
    : { kind: 'malformed', key, reason: r.reason };
}
