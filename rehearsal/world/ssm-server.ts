/**
 * The stand-in for SSM Parameter Store, run inside the machine's network
 * namespace (started by world/ssm.ts): answers `GetParameter` for one
 * SecureString parameter with the contents of `--value-file`, read at every
 * call, so a scenario can "store a new key" between boots. The bootstrap
 * reaches it through AWS_ENDPOINT_URL_SSM with the real SDK client.
 *   ssm-server.ts --port N --name /param/name --value-file FILE
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, name: { type: 'string' }, 'value-file': { type: 'string' } },
});
if (!values.port || !values.name || !values['value-file']) {
  console.error('usage: ssm-server.ts --port N --name /param/name --value-file FILE');
  process.exit(2);
}
const valueFile = values['value-file'];

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
    if (target !== 'AmazonSSM.GetParameter') {
      return reply(400, { __type: 'InvalidAction', message: `only GetParameter is stood in, not ${target}` });
    }
    const name = (JSON.parse(body || '{}') as { Name?: string }).Name;
    if (name !== values.name) {
      return reply(400, { __type: 'ParameterNotFound', message: `Parameter ${name} not found.` });
    }
    const value = (await readFile(valueFile, 'utf8')).trim();
    reply(200, { Parameter: { Name: name, Type: 'SecureString', Value: value, Version: 1 } });
  });
});
server.listen(Number(values.port), '127.0.0.1', () => {
  // The launcher waits for this line.
  console.log(JSON.stringify({ ready: true, port: Number(values.port) }));
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
