/**
 * Boot timelines: seconds from starting the machine to each milestone, for the
 * first boot (fresh disk, full bootstrap) and the second (after a stop/start).
 */
export const MILESTONES = ['systemUp', 'bootstrapDone', 'agentReady', 'stackHealthy'] as const;
export type Milestone = (typeof MILESTONES)[number];

export const MILESTONE_LABELS: Record<Milestone, string> = {
  systemUp: 'systemd up',
  bootstrapDone: 'bootstrap done',
  agentReady: 'agent ready',
  stackHealthy: 'stack healthy',
};

export type BootTimeline = Partial<Record<Milestone, number>>;

export interface TimelineReport {
  /** What the numbers are. */
  unit: string;
  generatedAt: string;
  totalSeconds: number;
  host: { cpus: number; node: string };
  boots: Record<string, BootTimeline>;
  checks: { passed: number; failed: number };
}

export class Timeline {
  readonly boots: Record<string, BootTimeline> = {};

  mark(boot: string, milestone: Milestone, seconds: number | undefined): void {
    if (seconds === undefined || !Number.isFinite(seconds)) return;
    this.boots[boot] ??= {};
    this.boots[boot][milestone] = Math.round(seconds * 100) / 100;
  }

  get(boot: string, milestone: Milestone): number | undefined {
    return this.boots[boot]?.[milestone];
  }

  /** Boots with their milestones in MILESTONES order (the order they were measured in may differ). */
  ordered(): Record<string, BootTimeline> {
    const out: Record<string, BootTimeline> = {};
    for (const [boot, t] of Object.entries(this.boots)) {
      const o: BootTimeline = {};
      for (const m of MILESTONES) if (t[m] !== undefined) o[m] = t[m];
      out[boot] = o;
    }
    return out;
  }
}

export const TIMELINE_UNIT =
  "seconds from starting systemd-nspawn (CLOCK_MONOTONIC, the clock of systemd's *TimestampMonotonic)";

/** Pure: one printable line per boot, e.g. "first boot: systemd up 1.2 s → bootstrap done 8.0 s → …". */
export function formatTimeline(boots: Record<string, BootTimeline>): string[] {
  return Object.entries(boots).map(([boot, t]) => {
    const parts = MILESTONES.filter((m) => t[m] !== undefined).map(
      (m) => `${MILESTONE_LABELS[m]} ${t[m]!.toFixed(1)} s`,
    );
    return `${boot}: ${parts.length > 0 ? parts.join(' → ') : 'no milestone reached'}`;
  });
}
