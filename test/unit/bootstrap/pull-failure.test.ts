import { describe, expect, it } from 'vitest';
import {
  classifyPullFailure,
  composeErrorLine,
  pullFailureError,
  tagOf,
} from '../../../bootstrap/pull-failure.ts';
import { ConfigError, ExitCode, HostError } from '../../../shared/errors.ts';

// compose 2.26 / dockerd output (the first two seen against the Distribution registry, the rest as
// dockerd words them for ghcr.io and Docker Hub).
const NOT_FOUND =
  ' gateway Pulling \n gateway Error manifest for 127.0.0.1:5000/dalston/gateway:9.9.9 not found: manifest unknown: manifest unknown\n' +
  'Error response from daemon: manifest for 127.0.0.1:5000/dalston/gateway:9.9.9 not found: manifest unknown: manifest unknown\n';
const BUILDABLE_NOT_FOUND =
  ' gateway Warning manifest for x/gateway:9.9.9 not found: manifest unknown: manifest unknown\n' +
  'WARNING: Some service image(s) must be built from source by running:\n    docker compose build gateway\n' +
  '1 error occurred:\n\t* Error response from daemon: manifest for x/gateway:9.9.9 not found: manifest unknown: manifest unknown\n\n\n';
const REFUSED =
  ' down Error Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused\n' +
  'Error response from daemon: Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused\n';
const DNS =
  'Error response from daemon: Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io on 127.0.0.53:53: server misbehaving';
const TLS_TIMEOUT = 'Error response from daemon: Get "https://ghcr.io/v2/": net/http: TLS handshake timeout';
const HUB_MISSING =
  "Error response from daemon: pull access denied for nosuch/image, repository does not exist or may require 'docker login': denied: requested access to the resource is denied";
const DENIED = 'Error response from daemon: Head "https://ghcr.io/v2/x/manifests/1": denied';
const OUR_TIMEOUT = ' gateway Pulling \ntimed out after 1800000 ms';
const DAEMON_DOWN =
  'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';

describe('classifying a failed pull (pure)', () => {
  it('a tag or repository the registry does not have is missing', () => {
    expect(classifyPullFailure(NOT_FOUND)).toBe('missing');
    expect(classifyPullFailure(BUILDABLE_NOT_FOUND)).toBe('missing');
    expect(classifyPullFailure(HUB_MISSING)).toBe('missing');
    expect(classifyPullFailure('Error response from daemon: manifest unknown')).toBe('missing');
  });
  it('a registry that cannot be reached (connect, DNS, TLS, our time limit) is unreachable, never missing', () => {
    expect(classifyPullFailure(REFUSED)).toBe('unreachable');
    expect(classifyPullFailure(DNS)).toBe('unreachable');
    expect(classifyPullFailure(TLS_TIMEOUT)).toBe('unreachable');
    expect(classifyPullFailure(OUR_TIMEOUT)).toBe('unreachable');
    // Unreachable wins when both appear: the registry said nothing about the tag.
    expect(classifyPullFailure(`${REFUSED}\nmanifest unknown`)).toBe('unreachable');
  });
  it('anything else is neither', () => {
    expect(classifyPullFailure(DENIED)).toBe('other');
    expect(classifyPullFailure(DAEMON_DOWN)).toBe('other');
    expect(classifyPullFailure('')).toBe('other');
  });
  it("compose's line: dockerd's error, else our time limit, else the last line", () => {
    expect(composeErrorLine(BUILDABLE_NOT_FOUND)).toBe(
      'Error response from daemon: manifest for x/gateway:9.9.9 not found: manifest unknown: manifest unknown',
    );
    expect(composeErrorLine(OUR_TIMEOUT)).toBe('timed out after 1800000 ms');
    expect(composeErrorLine(DAEMON_DOWN)).toBe(DAEMON_DOWN);
    expect(composeErrorLine('  \n')).toBe('(no output)');
  });
  it('the tag of a reference', () => {
    expect(tagOf('ghcr.io/ssarunic/dalston/gateway:1.2.3')).toBe('1.2.3');
    expect(tagOf('127.0.0.1:5000/dalston/gateway:9.9.9')).toBe('9.9.9');
    expect(tagOf('127.0.0.1:5000/dalston/gateway')).toBe('latest');
    expect(tagOf('redis')).toBe('latest');
    expect(tagOf('redis@sha256:abc')).toBeUndefined();
  });
});

describe('the error that stops the bootstrap (pure)', () => {
  const base = { image: 'ghcr.io/ssarunic/dalston/gateway:9.9.9', services: ['gateway'], attempts: 1 };

  it("dalston.imageTag names no image: 78, the key named, the fix first, compose's line second", () => {
    const err = pullFailureError({ ...base, imageTag: '9.9.9', output: NOT_FOUND });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.exitCode).toBe(ExitCode.config);
    expect((err as ConfigError).key).toBe('dalston.imageTag');
    expect(err.message.split('\n')).toEqual([
      'image ghcr.io/ssarunic/dalston/gateway:9.9.9 (gateway) not found: its tag 9.9.9 is dalston.imageTag ' +
        '(Terraform variable dalston_image_tag); set it to a published tag (Dalston publishes `latest` and ' +
        '`X.Y.Z` tags only, e.g. 1.2.3 for dalston_ref v1.2.3) and apply again',
      'docker compose pull: Error response from daemon: manifest for 127.0.0.1:5000/dalston/gateway:9.9.9 not found: manifest unknown: manifest unknown',
    ]);
  });

  it('a missing image whose tag is not Dalston’s is not blamed on dalston.imageTag', () => {
    const err = pullFailureError({
      image: 'postgres:99-alpine',
      services: ['postgres'],
      imageTag: '1.2.3',
      output: HUB_MISSING,
      attempts: 1,
    });
    expect(err).not.toBeInstanceOf(ConfigError);
    expect(err.exitCode).toBe(ExitCode.failure);
    expect(err.message.split('\n')[0]).toBe(
      'image postgres:99-alpine (postgres) not found in its registry: its tag is pinned by the compose files (compose.files), not by dalston.imageTag',
    );
  });

  it('an unreachable registry: 69, says so, claims no missing tag', () => {
    const err = pullFailureError({ ...base, imageTag: '9.9.9', output: DNS, attempts: 4 });
    expect(err).toBeInstanceOf(HostError);
    expect(err.exitCode).toBe(ExitCode.unavailable);
    const [first, second] = err.message.split('\n');
    expect(first).toMatch(
      /^image ghcr\.io\/ssarunic\/dalston\/gateway:9\.9\.9 \(gateway\) could not be pulled: its registry could not be reached \(4 attempts\), a network problem, not a missing tag/,
    );
    expect(first).not.toContain('not found');
    expect(second).toContain('server misbehaving');
  });

  it('anything else: 1, the image named, the tag key as a hint only', () => {
    const err = pullFailureError({ ...base, imageTag: '9.9.9', output: DENIED });
    expect(err.exitCode).toBe(ExitCode.failure);
    expect(err.message.split('\n')[0]).toBe(
      'image ghcr.io/ssarunic/dalston/gateway:9.9.9 (gateway) could not be pulled; its tag is dalston.imageTag ' +
        '(Terraform variable dalston_image_tag): Dalston publishes `latest` and `X.Y.Z` tags only, e.g. 1.2.3 for dalston_ref v1.2.3',
    );
  });
});
