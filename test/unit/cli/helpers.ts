import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Instance, InstanceStateName } from '@aws-sdk/client-ec2';
import type { ObjectReader, ObjectVersion } from '../../../cli/aws/snapshots.ts';
import { changedSinceRead, sameEtag } from '../../../cli/aws/snapshots.ts';
import type { CliContext, GatewayProbe, InteractiveRunner } from '../../../cli/context.ts';
import { sdkEc2 } from '../../../cli/context.ts';
import type { Shell, ShellResult } from '../../../shared/shell.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';

export const FIXTURES = new URL('../../fixtures/cli/', import.meta.url);
export const fixtureText = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');
export const fixtureSnapshot = (name: string) => JSON.parse(fixtureText(name)) as StatusSnapshot;

export { FakeClock } from '../../helpers/fake-clock.ts';

import type { Clock } from '../../../shared/time/clock.ts';

export class Capture {
  text = '';
  constructor(public isTTY = false) {}
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}

/** A Shell that answers `terraform output -json` with a canned result and records calls. */
export class FakeShell implements Shell {
  calls: Array<{ cmd: string; args: readonly string[] }> = [];
  constructor(private readonly answer: ShellResult = { exitCode: 0, stdout: '{}', stderr: '' }) {}
  async run(cmd: string, args: readonly string[]) {
    this.calls.push({ cmd, args });
    return this.answer;
  }
}

export const tfOutputs = (values: Record<string, string>): ShellResult => ({
  exitCode: 0,
  stdout: JSON.stringify(
    Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, { sensitive: false, type: 'string', value: v }]),
    ),
  ),
  stderr: '',
});

/** Objects by key; a function value is evaluated on every read (to change answers over time). */
export class FakeObjects implements ObjectReader {
  reads = 0;
  constructor(public objects: Record<string, string | (() => string | null) | null> = {}) {}
  async getText(_bucket: string, key: string) {
    this.reads++;
    const v = this.objects[key];
    const body = typeof v === 'function' ? v() : v;
    return body == null ? null : { body, lastModified: null };
  }
  /** Listed objects with their user metadata (backups); separate from the text objects above. */
  listed: Array<{ key: string; sizeBytes: number; metadata: Record<string, string> | null }> = [];
  async list(_bucket: string, prefix: string) {
    return this.listed
      .filter((o) => o.key.startsWith(prefix))
      .map((o) => ({ key: o.key, sizeBytes: o.sizeBytes, lastModified: null }));
  }
  async metadata(_bucket: string, key: string) {
    return this.listed.find((o) => o.key === key)?.metadata ?? null;
  }
  /** Writes and deletes in order; a written object is readable afterwards. */
  writes: Array<{ op: 'put' | 'delete'; key: string; body?: string }> = [];
  /** Set to make the next write fail with this error (e.g. a mapped AccessDenied). */
  failWrites: Error | null = null;
  async putText(_bucket: string, key: string, body: string) {
    if (this.failWrites) throw this.failWrites;
    this.writes.push({ op: 'put', key, body });
    this.objects[key] = body;
  }
  async delete(_bucket: string, key: string) {
    if (this.failWrites) throw this.failWrites;
    this.writes.push({ op: 'delete', key });
    this.objects[key] = null;
  }
  /** Versions as S3 gives them without bucket versioning: the quoted MD5 of the body as ETag. */
  private versionOf(key: string): ObjectVersion | null {
    const v = this.objects[key];
    const body = typeof v === 'function' ? v() : v;
    if (body == null) return null;
    return { etag: `"${createHash('md5').update(body).digest('hex')}"`, versionId: null };
  }
  async getVersioned(bucket: string, key: string) {
    const got = await this.getText(bucket, key);
    return got ? { body: got.body, version: this.versionOf(key)! } : null;
  }
  /** Called between the version check and the write: a test changes the object here to race the edit. */
  beforeConditionalPut: (() => void) | null = null;
  /** False: like a server without conditional writes (s3rver), If-Match is ignored. */
  honoursIfMatch = true;
  async headVersion(_bucket: string, key: string) {
    return this.versionOf(key);
  }
  async putTextIfMatch(bucket: string, key: string, body: string, ifMatch: ObjectVersion) {
    this.beforeConditionalPut?.();
    if (this.honoursIfMatch && !sameEtag(this.versionOf(key)?.etag, ifMatch.etag)) {
      throw changedSinceRead(bucket, key);
    }
    await this.putText(bucket, key, body);
    return this.versionOf(key)!;
  }
}

export const INSTANCE = 'i-0123456789abcdef0';
export const SNAPSHOT_KEY = `status/${INSTANCE}/latest.json`;

/** EC2's DescribeInstances answer for the test instance (a t3.xlarge in `state`); `fields` are the rest of it. */
export function describedInstance(
  state: string,
  fields: Omit<Instance, 'InstanceId' | 'InstanceType' | 'State'> = {},
) {
  return {
    Reservations: [
      {
        Instances: [
          {
            InstanceId: INSTANCE,
            InstanceType: 't3.xlarge' as const,
            State: { Name: state as InstanceStateName },
            ...fields,
          },
        ],
      },
    ],
  };
}

export function testContext(
  over: Partial<CliContext> & { clock: Clock },
): CliContext & { stdout: Capture; stderr: Capture } {
  const interactive: InteractiveRunner = {
    run: async () => {
      throw new Error('no interactive runner in this test');
    },
  };
  const gateway: GatewayProbe = { check: async () => ({ ok: false, detail: 'not probed in this test' }) };
  return {
    stdout: new Capture(),
    stderr: new Capture(),
    env: {},
    shell: new FakeShell(),
    ec2: sdkEc2,
    objects: () => new FakeObjects(),
    interactive,
    gateway,
    profileRegion: async () => undefined,
    ...over,
  } as CliContext & { stdout: Capture; stderr: Capture };
}

/** Deployment flags pointing at the test instance, so no terraform is consulted. */
export const DEPLOY = ['--instance-id', INSTANCE, '--region', 'eu-west-2', '--bucket', 'dalston-test-bucket'];
