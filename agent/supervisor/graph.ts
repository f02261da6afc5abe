/** Service dependency graph: service → the services it depends on. */
export type DependencyGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Services in dependency order (dependencies first), stable by name within a
 * level. Cycles cannot come from compose (it refuses them); if one appears the
 * rest are appended by name rather than looping.
 */
export function dependencyOrder(services: readonly string[], graph: DependencyGraph): string[] {
  return dependencyLevels(services, graph).flat();
}

/** Levels: level 0 has no dependency among `services`, level n depends only on levels < n. */
export function dependencyLevels(services: readonly string[], graph: DependencyGraph): string[][] {
  const set = new Set(services);
  const placed = new Set<string>();
  const levels: string[][] = [];
  let remaining = [...set].sort();
  while (remaining.length > 0) {
    const level = remaining.filter((s) => (graph.get(s) ?? []).every((d) => !set.has(d) || placed.has(d)));
    if (level.length === 0) {
      levels.push(remaining);
      break;
    }
    for (const s of level) placed.add(s);
    levels.push(level);
    remaining = remaining.filter((s) => !placed.has(s));
  }
  return levels;
}

/** Reverse levels for stopping: dependents before what they depend on. */
export function stopOrder(services: readonly string[], graph: DependencyGraph): string[][] {
  return dependencyLevels(services, graph).reverse();
}
