import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_TAG_VAR, REF_VAR, withDalstonVersion } from '../../converge/dalston-change-plan.ts';
import { runChecked } from '../../shared/shell.ts';
import { REPO, type RehearsalContext } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { composeConfigCommand } from '../prepare.ts';
import { IN_MACHINE } from '../product/machine-files.ts';
import { imageSources } from './db-images.ts';
import { STANDIN_IMAGE_TAG } from './standin-image.ts';

/**
 * New Dalston versions in the image-registry stand-in (`rehearsal-images.service`):
 * the image names compose resolves for a ref and image tag, tagged in the
 * machine's dockerd from the same sources as the first ones, so a change of
 * Dalston finds its images "pulled" (present) as it would on a real registry.
 */

export interface DalstonVersion {
  ref: string;
  imageTag: string;
}

/** `docker compose config` of the stand-in checkout and the overlay for `v` (compose.env as Terraform renders it, with v's ref and tag). */
export async function resolvedConfig(ctx: RehearsalContext, v: DalstonVersion): Promise<string> {
  const w = ctx.world;
  const work = path.join(ctx.runDir, 'world');
  const envFile = path.join(work, `compose-${v.ref}-${v.imageTag}.env`);
  await writeFile(
    envFile,
    withDalstonVersion(w.rendered.composeEnv, { [IMAGE_TAG_VAR]: v.imageTag, [REF_VAR]: v.ref }),
  );
  const cfg = composeConfigCommand({
    dalstonDir: path.join(work, 'dalston-src'),
    overlay: path.join(REPO, 'compose', 'docker-compose.aws.yml'),
    envFile,
    services: w.services,
  });
  return runChecked(ctx.shell, w.machineFiles.composePlugin, cfg.args, cfg);
}

/** Pure: each configured service's image name in a resolved compose config. */
export function imagesByService(configJson: string): Record<string, string> {
  const cfg = JSON.parse(configJson) as { services: Record<string, { image?: string }> };
  return Object.fromEntries(
    Object.entries(cfg.services).flatMap(([s, c]) => (c.image ? [[s, c.image] as const] : [])),
  );
}

/** Pure: the registry list (`source target` lines) with `pairs` added; a target already listed takes the new source. */
export function withImages(list: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  const targets = new Set(pairs.map(([, t]) => t));
  const kept = list.split('\n').filter((l) => l.trim() && !targets.has(l.trim().split(/\s+/)[1] ?? ''));
  return `${[...kept, ...pairs.map(([s, t]) => `${s} ${t}`)].join('\n')}\n`;
}

/**
 * Publishes `v`'s images to the registry stand-in of the machine running from
 * `rootfs`: its list gets v's image names (from the stand-in or database image,
 * or from `override[service]`, an image already in the machine's dockerd), and
 * the unit runs again. Returns v's images by service.
 */
export async function publishDalstonImages(
  ctx: RehearsalContext,
  m: Machine,
  rootfs: string,
  v: DalstonVersion,
  override: Record<string, string> = {},
): Promise<Record<string, string>> {
  const config = await resolvedConfig(ctx, v);
  const byService = imagesByService(config);
  const pairs = imageSources(config, STANDIN_IMAGE_TAG).map(([source, target]): [string, string] => {
    const service = Object.keys(override).find((s) => byService[s] === target);
    return [service ? override[service]! : source, target];
  });
  const listFile = path.join(rootfs, IN_MACHINE.imagesList);
  await writeFile(listFile, withImages(await readFile(listFile, 'utf8'), pairs));
  await m.execChecked('systemctl', ['restart', IN_MACHINE.imagesUnit], { timeoutMs: 5 * 60_000 });
  for (const [, target] of pairs)
    await m.execChecked('docker', ['image', 'inspect', '--format', '{{.Id}}', target]);
  return byService;
}
