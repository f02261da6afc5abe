import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runChecked, type Shell } from '../../shared/shell.ts';
import { dbImageHash, writeDbImageArchive } from '../../test/harness/debian-images.ts';
import { loadImagesScript } from '../world/db-images.ts';
import { STANDIN_IMAGE_TAG } from '../world/standin-image.ts';

/** Paths inside the machine where the rehearsal puts its stand-ins. */
export const IN_MACHINE = {
  userData: '/var/lib/cloud/instance/user-data.sh',
  userDataSemaphore: '/var/lib/cloud/instance/sem/user-data',
  userDataLog: '/var/log/dalston-user-data.log',
  dalstonRepo: '/srv/dalston-standin.git',
  standinTar: '/var/lib/rehearsal/standin.tar',
  /** The Postgres and Redis images as a `docker load` archive's files (tar'd into docker load). */
  dbImages: '/var/lib/rehearsal/db-images',
  imagesList: '/var/lib/rehearsal/images.txt',
  s3Endpoint: '/etc/rehearsal/s3-endpoint',
  userDataUnit: 'rehearsal-user-data.service',
  /** The EC2 serial console's stand-in: a directory bound from the host (rehearsal/context.ts boot). */
  serialConsoleDir: '/run/rehearsal-serial',
  imagesUnit: 'rehearsal-images.service',
} as const;

/** Stand-in for the AWS CLI: only `aws s3 cp s3://BUCKET/KEY FILE`, against the local S3 server. */
export const AWS_STANDIN = `#!/usr/bin/node-22
// dalston-host rehearsal stand-in for the AWS CLI: \`aws s3 cp s3://BUCKET/KEY FILE\` only,
// fetched from the local S3-compatible server named in ${IN_MACHINE.s3Endpoint}.
const fs = require('node:fs');
const args = process.argv.slice(2);
const fail = (m, code = 1) => { process.stderr.write('aws (rehearsal stand-in): ' + m + '\\n'); process.exit(code); };
if (args[0] !== 's3' || args[1] !== 'cp') fail('only "aws s3 cp s3://bucket/key file" is supported, not: aws ' + args.join(' '), 2);
const pos = [];
for (let i = 2; i < args.length; i++) {
  if (args[i] === '--region' || args[i] === '--endpoint-url') i++;
  else if (!args[i].startsWith('--')) pos.push(args[i]);
}
const [src, dest] = pos;
const m = /^s3:\\/\\/([^/]+)\\/(.+)$/.exec(src || '');
if (!m || !dest) fail('usage: aws s3 cp s3://bucket/key file', 2);
const endpoint = fs.readFileSync('${IN_MACHINE.s3Endpoint}', 'utf8').trim();
(async () => {
  const res = await fetch(endpoint + '/' + m[1] + '/' + m[2].split('/').map(encodeURIComponent).join('/'));
  if (!res.ok) fail('download failed: An error occurred (' + res.status + ') when calling the GetObject operation');
  fs.writeFileSync(dest, Buffer.from(await res.arrayBuffer()));
})().catch((e) => fail(String(e && e.message || e)));
`;

/** Stand-in for dnf: nothing can be installed in the rehearsal; a call is reported, not faked. */
export const DNF_STANDIN = `#!/bin/sh
echo "dnf (rehearsal stand-in): no package repository is reachable in the rehearsal; asked: dnf $*" >&2
exit 1
`;

/** Loads the stand-in and database images and tags them with every image name the resolved compose configuration uses. */
export const LOAD_IMAGES = loadImagesScript({
  standinImage: STANDIN_IMAGE_TAG,
  standinTar: IN_MACHINE.standinTar,
  dbArchiveDir: IN_MACHINE.dbImages,
  imagesList: IN_MACHINE.imagesList,
  hash: dbImageHash(),
});

/** cloud-init stand-in: runs the instance user-data once per instance, like cloud-final does. */
export const USER_DATA_UNIT = `[Unit]
Description=Rehearsal stand-in for cloud-init: run the instance user-data once
Wants=network-online.target
After=network-online.target ${IN_MACHINE.imagesUnit}
ConditionPathExists=!${IN_MACHINE.userDataSemaphore}

[Service]
Type=oneshot
RemainAfterExit=yes
# The user-data writes its output to the serial console (/dev/console on EC2); a
# container has none nspawn can hand back, so it goes to a file the host reads.
Environment=DALSTON_USER_DATA_CONSOLE=${IN_MACHINE.serialConsoleDir}/console
# Like cloud-init: marked as run before it runs, so a failed user-data is not retried at the next boot.
ExecStart=/bin/sh -c 'mkdir -p ${path.dirname(IN_MACHINE.userDataSemaphore)} && touch ${IN_MACHINE.userDataSemaphore} && exec /bin/bash ${IN_MACHINE.userData}'
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
`;

/** Registry stand-in: the images are in dockerd before anything would pull them. */
export const IMAGES_UNIT = `[Unit]
Description=Rehearsal stand-in for the image registry: load the stand-in, Postgres and Redis images into dockerd
Requires=docker.service
After=docker.service
Before=dalston.service ${IN_MACHINE.userDataUnit}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/rehearsal/load-images.sh

[Install]
WantedBy=multi-user.target
`;

/** Instance-role stand-in: credentials the local S3 server accepts (an operator's shell gets them too). */
export const INSTANCE_ROLE_ENV = ['AWS_ACCESS_KEY_ID=S3RVER', 'AWS_SECRET_ACCESS_KEY=S3RVER'] as const;

/**
 * The same credentials for the units that call AWS. On EC2 every process gets the
 * role's credentials from IMDS; here the units that call AWS get them: the agent
 * (status snapshots), the backup, and the bootstrap wherever it runs (the user-data,
 * its re-run unit, the every-boot unit: the bootstrap result upload).
 */
export const INSTANCE_ROLE_DROPIN = `[Service]
Environment=${INSTANCE_ROLE_ENV.join(' ')}
`;

/**
 * The S3 endpoint for the user-data's bootstrap at first boot: before host.json exists
 * (with its s3.endpoint), `--desired-state` names only the bucket, and the bootstrap
 * takes an S3-compatible server from AWS_ENDPOINT_URL_S3 (unset on EC2).
 */
export function s3EndpointDropin(endpoint: string): string {
  return `[Service]\nEnvironment=AWS_ENDPOINT_URL_S3=${endpoint}\n`;
}

/** The units that run the user-data (the cloud-init stand-in and the user-data's own re-run unit). */
export const USER_DATA_UNITS = ['dalston-user-data.service', IN_MACHINE.userDataUnit] as const;

/** The units whose processes call AWS (see INSTANCE_ROLE_DROPIN). */
export const AWS_CALLING_UNITS = [
  'dalston.service',
  'dalston-backup.service',
  'dalston-bootstrap.service',
  'dalston-sync.service',
  'dalston-user-data.service',
  IN_MACHINE.userDataUnit,
] as const;

export interface MachineFiles {
  rootfs: string;
  nodeBinary: string;
  composePlugin: string;
  buildxPlugin: string;
  userData: string;
  dalstonBareRepo: string;
  standinTar: string;
  /** The cached rootfs of the Postgres/Redis images (test/harness/debian-images.ts). */
  dbRootfs: string;
  /** `[source image, image name the compose config uses]` pairs. */
  images: ReadonlyArray<readonly [string, string]>;
  s3Endpoint: string;
}

async function put(rootfs: string, p: string, content: string, mode = 0o644): Promise<void> {
  const full = path.join(rootfs, p);
  await mkdir(path.dirname(full), { recursive: true });
  await writeFile(full, content, { mode });
  await chmod(full, mode);
}

async function enable(rootfs: string, unit: string): Promise<void> {
  const wants = path.join(rootfs, 'etc/systemd/system/multi-user.target.wants');
  await mkdir(wants, { recursive: true });
  await symlink(`/etc/systemd/system/${unit}`, path.join(wants, unit));
}

/**
 * Puts the outside world's stand-ins into a fresh machine rootfs: Node and the
 * Compose and buildx plugins (copied in instead of downloaded), `aws` and `dnf`, the
 * user-data and its cloud-init stand-in, the stand-in and database images and the Dalston repo.
 */
export async function installMachineFiles(shell: Shell, f: MachineFiles): Promise<void> {
  const r = f.rootfs;
  // What AL2023's nodejs22 package installs; the user-data links /usr/bin/node to it.
  await copyFile(f.nodeBinary, path.join(r, 'usr/bin/node-22'));
  await chmod(path.join(r, 'usr/bin/node-22'), 0o755);
  await mkdir(path.join(r, 'usr/libexec/docker/cli-plugins'), { recursive: true });
  await copyFile(f.composePlugin, path.join(r, 'usr/libexec/docker/cli-plugins/docker-compose'));
  await chmod(path.join(r, 'usr/libexec/docker/cli-plugins/docker-compose'), 0o755);
  await copyFile(f.buildxPlugin, path.join(r, 'usr/libexec/docker/cli-plugins/docker-buildx'));
  await chmod(path.join(r, 'usr/libexec/docker/cli-plugins/docker-buildx'), 0o755);
  await put(r, 'usr/local/bin/aws', AWS_STANDIN, 0o755);
  await put(r, 'usr/bin/dnf', DNF_STANDIN, 0o755);
  await put(r, IN_MACHINE.s3Endpoint, `${f.s3Endpoint}\n`);
  await put(r, IN_MACHINE.userData, f.userData, 0o700);
  await put(r, 'usr/local/lib/rehearsal/load-images.sh', LOAD_IMAGES, 0o755);
  await put(
    r,
    IN_MACHINE.imagesList,
    `${f.images.map(([source, target]) => `${source} ${target}`).join('\n')}\n`,
  );
  await mkdir(path.join(r, path.dirname(IN_MACHINE.standinTar)), { recursive: true });
  await copyFile(f.standinTar, path.join(r, IN_MACHINE.standinTar));
  await writeDbImageArchive(shell, f.dbRootfs, path.join(r, IN_MACHINE.dbImages));
  await runChecked(shell, 'cp', ['-a', f.dalstonBareRepo, path.join(r, IN_MACHINE.dalstonRepo)]);
  await put(r, `etc/systemd/system/${IN_MACHINE.userDataUnit}`, USER_DATA_UNIT);
  await put(r, `etc/systemd/system/${IN_MACHINE.imagesUnit}`, IMAGES_UNIT);
  for (const unit of AWS_CALLING_UNITS)
    await put(r, `etc/systemd/system/${unit}.d/rehearsal-instance-role.conf`, INSTANCE_ROLE_DROPIN);
  for (const unit of USER_DATA_UNITS)
    await put(r, `etc/systemd/system/${unit}.d/rehearsal-s3-endpoint.conf`, s3EndpointDropin(f.s3Endpoint));
  // A persistent journal, as on Amazon Linux 2023: the second boot reads how the first one ended.
  await mkdir(path.join(r, 'var/log/journal'), { recursive: true });
  await enable(r, IN_MACHINE.userDataUnit);
  await enable(r, IN_MACHINE.imagesUnit);
}
