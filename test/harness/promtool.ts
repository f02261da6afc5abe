import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';
import { cachedDebianBinary } from './debian-package.ts';
import { cacheDir } from './paths.ts';
import { findCommand } from './require.ts';

/** The Debian release whose `prometheus` package provides promtool (2.42 in bookworm). */
const SUITE = 'bookworm';
const cached = path.join(cacheDir, 'promtool', SUITE, 'promtool');

/**
 * Path of a `promtool`: one on PATH, else the one from Debian's `prometheus`
 * package, downloaded once into the harness cache and unpacked with dpkg -x
 * (the Prometheus service itself is never installed).
 */
export async function ensurePromtool(shell: Shell): Promise<string> {
  const onPath = findCommand('promtool');
  if (onPath) return onPath;
  return cachedDebianBinary(shell, {
    pkg: 'prometheus',
    suite: SUITE,
    workDir: path.join(cacheDir, 'promtool-apt'),
    binary: 'usr/bin/promtool',
    cached,
  });
}

export interface PromtoolResult {
  exitCode: number;
  /** promtool's findings, one per line (empty when clean). */
  problems: string[];
}

/** `promtool check metrics` on exposition text (read from stdin, as promtool takes it). */
export async function checkMetrics(shell: Shell, promtool: string, text: string): Promise<PromtoolResult> {
  const r = await shell.run(promtool, ['check', 'metrics'], { input: text, timeoutMs: 60_000 });
  const problems = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return { exitCode: r.exitCode, problems };
}
