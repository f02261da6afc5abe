import type { ContainerInfo } from '../shared/engine/docker/types.ts';

/**
 * Pure: every service that depends on `service`, directly or through others,
 * from compose's depends_on labels of the project's containers (the graph
 * compose itself started them by, never a hard-coded list). Sorted by name.
 */
export function dependentsOf(service: string, containers: readonly ContainerInfo[]): string[] {
  const dependsOn = new Map<string, Set<string>>();
  for (const c of containers) {
    const set = dependsOn.get(c.service) ?? new Set<string>();
    for (const d of c.dependsOn) set.add(d);
    dependsOn.set(c.service, set);
  }
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [s, deps] of dependsOn) {
      if (s === service || out.has(s)) continue;
      if (deps.has(service) || [...deps].some((d) => out.has(d))) {
        out.add(s);
        grew = true;
      }
    }
  }
  return [...out].sort();
}
