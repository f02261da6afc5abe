import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny stand-in for the EC2 Query API (form-encoded POST, XML answers) so the
 * real SDK inside the real `dalston-aws` process can be pointed at it through
 * AWS_ENDPOINT_URL_EC2. It knows one instance and the few actions the CLI calls.
 */
export interface FakeInstance {
  id: string;
  type: string;
  state: string;
  launchTime: string;
  volumes: Array<{ id: string; sizeGiB: number; type: string }>;
  /** EC2's StateTransitionReason (`<reason>`), e.g. `User initiated (2026-12-01 02:00:03 GMT)`. */
  reason?: string;
}

export interface FakeEc2 {
  url: string;
  instance: FakeInstance;
  /** Actions received, in order, with their parsed form parameters. */
  calls: Array<{ action: string; params: Record<string, string>; authorization: string | undefined }>;
  close(): Promise<void>;
}

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const STATE_CODES: Record<string, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

function error(code: string, message: string) {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-1</RequestID></Response>`;
}

function stateXml(name: string) {
  return `<code>${STATE_CODES[name] ?? 0}</code><name>${name}</name>`;
}

export async function startFakeEc2(instance: FakeInstance): Promise<FakeEc2> {
  const calls: FakeEc2['calls'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      const action = params.Action ?? '';
      calls.push({ action, params, authorization: req.headers.authorization });
      const ids = Object.entries(params)
        .filter(([k]) => k.startsWith('InstanceId.'))
        .map(([, v]) => v);
      const reply = (status: number, xml: string) => {
        res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(xml);
      };
      if (ids.length > 0 && !ids.includes(instance.id)) {
        return reply(400, error('InvalidInstanceID.NotFound', `The instance ID '${ids[0]}' does not exist`));
      }
      const i = instance;
      switch (action) {
        case 'DescribeInstances':
          return reply(
            200,
            `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${NS}"><requestId>r1</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><instancesSet><item><instanceId>${i.id}</instanceId><instanceType>${i.type}</instanceType><launchTime>${i.launchTime}</launchTime><instanceState>${stateXml(i.state)}</instanceState><reason>${i.reason ?? ''}</reason><blockDeviceMapping>${i.volumes
              .map(
                (v, n) =>
                  `<item><deviceName>/dev/sd${String.fromCharCode(97 + n)}</deviceName><ebs><volumeId>${v.id}</volumeId><status>attached</status></ebs></item>`,
              )
              .join(
                '',
              )}</blockDeviceMapping><tagSet><item><key>Name</key><value>dalston-e2e</value></item></tagSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`,
          );
        case 'DescribeVolumes':
          return reply(
            200,
            `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeVolumesResponse xmlns="${NS}"><requestId>r2</requestId><volumeSet>${i.volumes
              .map(
                (v) =>
                  `<item><volumeId>${v.id}</volumeId><size>${v.sizeGiB}</size><volumeType>${v.type}</volumeType></item>`,
              )
              .join('')}</volumeSet></DescribeVolumesResponse>`,
          );
        case 'StartInstances':
        case 'StopInstances': {
          const tag = action === 'StartInstances' ? 'StartInstancesResponse' : 'StopInstancesResponse';
          const prev = i.state;
          i.state = action === 'StartInstances' ? 'pending' : 'stopping';
          return reply(
            200,
            `<?xml version="1.0" encoding="UTF-8"?>\n<${tag} xmlns="${NS}"><requestId>r3</requestId><instancesSet><item><instanceId>${i.id}</instanceId><currentState>${stateXml(i.state)}</currentState><previousState>${stateXml(prev)}</previousState></item></instancesSet></${tag}>`,
          );
        }
        default:
          return reply(
            400,
            error('InvalidAction', `The action ${action} is not valid for this web service.`),
          );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    instance,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
