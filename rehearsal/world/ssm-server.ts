/**
 * The stand-in for SSM Parameter Store, run inside the machine's network
 * namespace (started by world/ssm.ts) or as a plain process by tests: answers
 * `GetParameter` for one SecureString parameter with the contents of
 * `--value-file`, read at every call, so a scenario can "store a new key"
 * between boots. With `--writable NAME=FILE` it also takes `PutParameter` for
 * that one name (what the instance role allows for the admin API key), writing
 * the value to FILE, and then answers `GetParameter` for it too. The bootstrap
 * reaches it through AWS_ENDPOINT_URL_SSM with the real SDK client.
 *   ssm-server.ts --port N --name /param/name --value-file FILE [--writable /other=FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    name: { type: 'string' },
    'value-file': { type: 'string' },
    writable: { type: 'string' },
  },
});
if (!values.port || !values.name || !values['value-file']) {
  console.error(
    'usage: ssm-server.ts --port N --name /param/name --value-file FILE [--writable /other=FILE]',
  );
  process.exit(2);
}
const files = new Map<string, string>([[values.name, values['value-file']]]);
let writable: string | undefined;
if (values.writable) {
  const eq = values.writable.indexOf('=');
  if (eq < 1) {
    console.error('--writable takes NAME=FILE');
    process.exit(2);
  }
  writable = values.writable.slice(0, eq);
  files.set(writable, values.writable.slice(eq + 1));
}

async function readValue(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => {
    body += d.toString();
  });
  req.on('end', async () => {
    const reply = (status: number, o: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(o));
    };
    const target = req.headers['x-amz-target'];
    const input = JSON.parse(body || '{}') as {
      Name?: string;
      Value?: string;
      Type?: string;
      Overwrite?: boolean;
    };
    const name = input.Name ?? '';
    if (target === 'AmazonSSM.PutParameter') {
      if (name !== writable) {
        return reply(400, {
          __type: 'AccessDeniedException',
          message: `not authorized to perform: ssm:PutParameter on parameter ${name}`,
        });
      }
      const file = files.get(name)!;
      if ((await readValue(file)) !== undefined && !input.Overwrite) {
        return reply(400, { __type: 'ParameterAlreadyExists', message: 'The parameter already exists.' });
      }
      if (input.Type !== 'SecureString' || !input.Value) {
        return reply(400, {
          __type: 'ValidationException',
          message: 'stand-in takes only SecureString values',
        });
      }
      await writeFile(file, `${input.Value}\n`, { mode: 0o600 });
      return reply(200, { Version: 1, Tier: 'Standard' });
    }
    if (target !== 'AmazonSSM.GetParameter') {
      return reply(400, {
        __type: 'InvalidAction',
        message: `only GetParameter/PutParameter are stood in, not ${target}`,
      });
    }
    const file = files.get(name);
    const value = file === undefined ? undefined : await readValue(file);
    if (value === undefined) {
      return reply(400, { __type: 'ParameterNotFound', message: `Parameter ${name} not found.` });
    }
    reply(200, { Parameter: { Name: name, Type: 'SecureString', Value: value, Version: 1 } });
  });
});
server.listen(Number(values.port), '127.0.0.1', () => {
  // The launcher waits for this line (port 0: the one the system chose).
  console.log(JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port }));
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
