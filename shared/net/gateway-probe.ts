import { httpRequest } from '../http-request.ts';

/**
 * Dalston's gateway health endpoint answers 2xx within a short deadline: the
 * agent's probe each reconcile, and the downtime meter of a Dalston change.
 */
export async function probeGateway(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await httpRequest(url, { timeoutMs });
    return res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}
