import { createHash } from 'node:crypto';

/**
 * What the rehearsal machine's root filesystem is made of. The cache is keyed
 * by a hash of this object: change anything here (or bump `layout`) and the
 * next run builds a fresh rootfs instead of reusing a stale one. The mirror it
 * is downloaded from is not part of it (the suite and packages define the
 * content): it comes from the host's apt sources when a build is needed.
 */
export interface RootfsRecipe {
  suite: string;
  variant: string;
  /** Packages added to the minbase variant (`debootstrap --include`). */
  packages: readonly string[];
  /** Bumped when the post-debootstrap customisation in rootfs.ts changes. */
  layout: number;
}

export const ROOTFS_RECIPE: RootfsRecipe = {
  suite: 'bookworm',
  variant: 'minbase',
  // systemd as PID 1 with dbus; docker.io gives the machine its own dockerd
  // (started by systemd like on an instance); git for the Dalston checkout step;
  // the disk tools the bootstrap calls (mkfs, blkid, findmnt, wipefs, mount).
  packages: [
    'systemd',
    'systemd-sysv',
    'dbus',
    'docker.io',
    'iproute2',
    'e2fsprogs',
    'util-linux',
    'mount',
    'ca-certificates',
    'git',
    'procps',
  ],
  layout: 1,
};

/** Pure: a short stable hash of a recipe (key order does not matter). */
export function recipeHash(recipe: RootfsRecipe): string {
  const canonical = JSON.stringify({
    suite: recipe.suite,
    variant: recipe.variant,
    packages: [...recipe.packages].sort(),
    layout: recipe.layout,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** Pure: the debootstrap argv for a recipe into `target`, downloading from `mirror`. */
export function debootstrapArgs(recipe: RootfsRecipe, target: string, mirror: string): string[] {
  return [
    `--variant=${recipe.variant}`,
    `--include=${[...recipe.packages].sort().join(',')}`,
    recipe.suite,
    target,
    mirror,
  ];
}
