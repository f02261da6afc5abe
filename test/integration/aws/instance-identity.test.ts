import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInstanceName } from '../../../shared/aws/instance-identity.ts';
import { memoryLogger } from '../../unit/agent/report/fixtures.ts';

describe('resolveInstanceName against an IMDSv2 stand-in', () => {
  let server: Server;
  let endpoint: string;
  const seen: string[] = [];
  let mode: 'ok' | 'no-token' | 'slow' | 'flaky' = 'ok';
  let flakyLeft = 0;
  // DMI of a machine that is not EC2, so these tests do not depend on where they run.
  const notEc2 = async () => '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(
        `${req.method} ${req.url} ttl=${req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ?? '-'} token=${req.headers['x-aws-ec2-metadata-token'] ?? '-'}`,
      );
      if (mode === 'slow') return; // never answers
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        if (mode === 'no-token' || (mode === 'flaky' && flakyLeft-- > 0)) {
          res.writeHead(403).end();
          return;
        }
        res.end('TOKEN123');
      } else if (req.method === 'GET' && req.url === '/latest/meta-data/instance-id') {
        if (req.headers['x-aws-ec2-metadata-token'] !== 'TOKEN123') {
          res.writeHead(401).end();
          return;
        }
        res.end('i-0abcdef1234567890');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('reads the instance id with a session token', async () => {
    seen.length = 0;
    mode = 'ok';
    expect(
      await resolveInstanceName({ imdsEndpoint: endpoint, hostname: () => 'box', readDmi: notEc2 }),
    ).toBe('i-0abcdef1234567890');
    expect(seen).toEqual([
      'PUT /latest/api/token ttl=60 token=-',
      'GET /latest/meta-data/instance-id ttl=- token=TOKEN123',
    ]);
  });

  it('honours AWS_EC2_METADATA_SERVICE_ENDPOINT', async () => {
    mode = 'ok';
    const name = await resolveInstanceName({
      env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: `${endpoint}/` },
      hostname: () => 'box',
      readDmi: notEc2,
    });
    expect(name).toBe('i-0abcdef1234567890');
  });

  it('falls back to the hostname when the token is refused', async () => {
    mode = 'no-token';
    expect(
      await resolveInstanceName({ imdsEndpoint: endpoint, hostname: () => 'box', readDmi: notEc2 }),
    ).toBe('box');
  });

  it('falls back to the hostname within the timeout when IMDS hangs', async () => {
    mode = 'slow';
    const start = Date.now();
    expect(
      await resolveInstanceName({
        imdsEndpoint: endpoint,
        timeoutMs: 300,
        hostname: () => 'box',
        readDmi: notEc2,
      }),
    ).toBe('box');
    expect(Date.now() - start).toBeLessThan(3_000);
  });

  it('on EC2, retries a failing IMDS instead of falling back to the hostname', async () => {
    mode = 'flaky';
    flakyLeft = 2;
    const ec2 = async (name: string) => (name === 'sys_vendor' ? 'Amazon EC2\n' : '');
    expect(
      await resolveInstanceName({
        imdsEndpoint: endpoint,
        hostname: () => 'box',
        readDmi: ec2,
        retryDelayMs: 10,
      }),
    ).toBe('i-0abcdef1234567890');
    expect(flakyLeft).toBeLessThan(0);
  });

  it('on EC2 with IMDS never answering, names the host by the DMI asset tag (the instance id)', async () => {
    mode = 'no-token';
    const ec2 = async (name: string) =>
      name === 'sys_vendor' ? 'Amazon EC2\n' : name === 'board_asset_tag' ? 'i-0123456789abcdef0\n' : '';
    expect(
      await resolveInstanceName({
        imdsEndpoint: endpoint,
        hostname: () => 'box',
        readDmi: ec2,
        attemptsOnEc2: 2,
        retryDelayMs: 10,
      }),
    ).toBe('i-0123456789abcdef0');
  });

  it('falls back at once when nothing listens', async () => {
    const { logger, lines } = memoryLogger();
    expect(
      await resolveInstanceName({
        imdsEndpoint: 'http://127.0.0.1:9',
        hostname: () => 'box',
        logger,
        readDmi: notEc2,
      }),
    ).toBe('box');
    expect(lines[0]?.reason).toMatch(/IMDS not reachable/);
  });
});
