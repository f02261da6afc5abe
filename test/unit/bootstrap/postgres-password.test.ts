import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  alterPasswordSql,
  generatePassword,
  parsePending,
  parseSecretsEnv,
  scramVerifier,
  secretsEnvText,
} from '../../../bootstrap/postgres-password.ts';

describe('the generated Postgres password', () => {
  it('is 64 hex characters, new each time, and round-trips through the env file', () => {
    const a = generatePassword();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(generatePassword()).not.toBe(a);
    const text = secretsEnvText(a);
    expect(text).toMatch(/^# /);
    expect(text.endsWith(`\nPOSTGRES_PASSWORD=${a}\n`)).toBe(true);
    expect(parseSecretsEnv(text)).toBe(a);
    expect(parseSecretsEnv('POSTGRES_PASSWORD=password\n')).toBeUndefined();
    expect(parsePending(`${a}\n`)).toBe(a);
    expect(parsePending('')).toBeUndefined();
    expect(() => secretsEnvText('password')).toThrow(/not a generated password/);
  });
});

describe('SCRAM-SHA-256 verifier', () => {
  // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();

  it("matches RFC 7677's exchange: the server signature and the client proof check out", () => {
    const v = scramVerifier('pencil', salt, 4096);
    const m = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([^:]+):(.+)$/.exec(v);
    expect(m).not.toBeNull();
    const storedKey = Buffer.from(m![1]!, 'base64');
    const serverKey = Buffer.from(m![2]!, 'base64');
    expect(hmac(serverKey, authMessage).toString('base64')).toBe(
      '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    );
    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and StoredKey = H(ClientKey).
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    const signature = hmac(storedKey, authMessage);
    const clientKey = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
    expect(createHash('sha256').update(clientKey).digest().equals(storedKey)).toBe(true);
  });

  it('uses a fresh salt each time and goes into SQL only as a verifier', () => {
    expect(scramVerifier('x')).not.toBe(scramVerifier('x'));
    const v = scramVerifier(generatePassword());
    expect(alterPasswordSql(v)).toBe(`ALTER ROLE CURRENT_USER PASSWORD '${v}';\n`);
    expect(() => alterPasswordSql("x'; DROP ROLE dalston; --")).toThrow(/not a SCRAM-SHA-256 verifier/);
  });
});
