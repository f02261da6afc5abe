import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Deployment } from '../deployment.ts';
import { mapAwsError } from '../errors.ts';

/** SSM Parameter Store as the CLI reads it (the admin API key). */
export interface ParameterReader {
  /** The decrypted value; null when the parameter does not exist. Throws a HostError otherwise. */
  getSecure(name: string): Promise<string | null>;
}

export class SdkParameters implements ParameterReader {
  constructor(
    private readonly client: SSMClient,
    private readonly opts: { profile?: string | undefined; timeoutMs: number },
  ) {}

  async getSecure(name: string): Promise<string | null> {
    try {
      const out = await this.client.send(new GetParameterCommand({ Name: name, WithDecryption: true }), {
        abortSignal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      return out.Parameter?.Value?.trim() || null;
    } catch (err) {
      if ((err as { name?: string }).name === 'ParameterNotFound') return null;
      throw mapAwsError(err, {
        action: 'ssm:GetParameter',
        resource: `SSM parameter ${name}`,
        ...(this.opts.profile ? { profile: this.opts.profile } : {}),
      });
    }
  }
}

export function sdkParameters(d: Deployment, timeoutMs: number): ParameterReader {
  return new SdkParameters(
    new SSMClient({ region: d.region, ...(d.profile ? { profile: d.profile } : {}), maxAttempts: 3 }),
    { profile: d.profile, timeoutMs },
  );
}
