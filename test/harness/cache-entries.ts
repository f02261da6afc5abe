/**
 * Pure: the entries of a build cache (`rootfs-<hash>`, `<…>.partial-<pid>`)
 * that another recipe left behind or a build that died half-way (its process
 * is gone). A build in progress in another live run is left alone. Shared by
 * the rehearsal's machine rootfs and the harness's database images.
 */
export function staleEntries(
  names: readonly string[],
  hash: string,
  alive: (pid: number) => boolean,
): string[] {
  return names.filter((n) => {
    const partial = /\.partial-(\d+)$/.exec(n);
    if (partial) return !alive(Number(partial[1]));
    return n.startsWith('rootfs-') && n !== `rootfs-${hash}`;
  });
}
