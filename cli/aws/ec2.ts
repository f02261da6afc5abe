import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { HostError } from '../../shared/errors.ts';
import { mapAwsError } from '../errors.ts';
import type { VolumeSpec } from '../pricing.ts';

/** EC2 instance states as the API names them. */
export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

export interface InstanceInfo {
  id: string;
  state: InstanceState | string;
  type: string;
  /** Time of the last start (EC2 resets it on every start): uptime and "heartbeat newer than the start". */
  launchTime: Date | null;
  volumeIds: string[];
  name: string | null;
  /**
   * Why EC2 last changed the state: `User initiated (2026-12-01 02:00:03 GMT)` for an API
   * stop (a person or the schedule), empty while running. Null when EC2 gave none.
   */
  stateTransitionReason: string | null;
  /** EC2's state reason code, e.g. Client.InstanceInitiatedShutdown (power-off from inside). */
  stateReasonCode: string | null;
}

/** The EC2 calls the CLI makes; unit tests fake the SDK client underneath with aws-sdk-client-mock. */
export interface Ec2Api {
  describeInstance(id: string): Promise<InstanceInfo>;
  describeVolumes(ids: readonly string[]): Promise<VolumeSpec[]>;
  /** Returns the state EC2 reports right after the call. */
  startInstance(id: string): Promise<string>;
  stopInstance(id: string): Promise<string>;
}

export interface AwsClientOptions {
  region: string;
  profile?: string | undefined;
  /** Per-call deadline; a call without an answer by then fails with exit 69. */
  timeoutMs?: number;
}

export function createEc2Client(opts: AwsClientOptions): EC2Client {
  return new EC2Client({
    region: opts.region,
    ...(opts.profile ? { profile: opts.profile } : {}),
    maxAttempts: 3,
  });
}

/** Domain client over the SDK: one typed method per call, each bounded by a timeout, errors mapped to one line. */
export class SdkEc2 implements Ec2Api {
  private readonly timeoutMs: number;
  constructor(
    private readonly client: EC2Client,
    private readonly opts: { profile?: string | undefined; timeoutMs?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 20_000;
  }

  private async call<T>(
    action: string,
    resource: string,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    try {
      return await fn(AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      throw mapAwsError(err, { action, resource, profile: this.opts.profile });
    }
  }

  async describeInstance(id: string): Promise<InstanceInfo> {
    const out = await this.call('ec2:DescribeInstances', id, (abortSignal) =>
      this.client.send(new DescribeInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
    );
    const inst = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
    if (!inst) {
      throw new HostError(
        'config',
        `unknown instance id ${id}: no such instance in this region/account (check --instance-id and --region)`,
      );
    }
    return {
      id,
      state: inst.State?.Name ?? 'unknown',
      type: inst.InstanceType ?? 'unknown',
      launchTime: inst.LaunchTime ?? null,
      volumeIds: (inst.BlockDeviceMappings ?? []).flatMap((b) => (b.Ebs?.VolumeId ? [b.Ebs.VolumeId] : [])),
      name: inst.Tags?.find((t) => t.Key === 'Name')?.Value ?? null,
      stateTransitionReason: inst.StateTransitionReason || null,
      stateReasonCode: inst.StateReason?.Code ?? null,
    };
  }

  async describeVolumes(ids: readonly string[]): Promise<VolumeSpec[]> {
    if (ids.length === 0) return [];
    const out = await this.call('ec2:DescribeVolumes', ids.join(','), (abortSignal) =>
      this.client.send(new DescribeVolumesCommand({ VolumeIds: [...ids] }), { abortSignal }),
    );
    return (out.Volumes ?? []).map((v) => ({
      id: v.VolumeId ?? '?',
      sizeGiB: v.Size ?? 0,
      type: v.VolumeType ?? 'unknown',
      iops: v.Iops,
      throughputMBps: v.Throughput,
    }));
  }

  async startInstance(id: string): Promise<string> {
    const out = await this.call('ec2:StartInstances', id, (abortSignal) =>
      this.client.send(new StartInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
    );
    return out.StartingInstances?.[0]?.CurrentState?.Name ?? 'pending';
  }

  async stopInstance(id: string): Promise<string> {
    const out = await this.call('ec2:StopInstances', id, (abortSignal) =>
      this.client.send(new StopInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
    );
    return out.StoppingInstances?.[0]?.CurrentState?.Name ?? 'stopping';
  }
}
