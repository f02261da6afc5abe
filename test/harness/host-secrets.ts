import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateApiKey, withApiKey } from '../../bootstrap/api-key.ts';
import { generatePassword, secretsEnvText } from '../../bootstrap/postgres-password.ts';
import { dataPaths } from '../../shared/config/data-paths.ts';

/**
 * What the bootstrap's secrets step leaves on a host: `<dataDir>/secrets/compose.env`
 * (root-only), which every compose run of the agent and the images step reads. For tests and
 * benchmarks that run those against a dataDir the bootstrap did not prepare. Returns the password.
 */
export async function writeHostSecrets(dataDir: string): Promise<string> {
  const file = dataPaths(dataDir).secretsEnv;
  const password = generatePassword();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, withApiKey(secretsEnvText(password), generateApiKey()), { mode: 0o600 });
  return password;
}
