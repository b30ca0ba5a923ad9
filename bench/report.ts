import type { InteractiveFigures, LatencyFigures } from './interactive/scenarios.js';

export interface RunFigures {
  impl: 'ours' | 'baseline';
  wallSeconds: number;
  botApiCalls: number;
  callsByMethod: Record<string, number>;
  dbRoundTrips: number;
  /** TELEGRAM_MAX_RPS of the run. */
  maxRps: number;
  callsPerSecond: number;
  shareOfMaxRps: number;
  answers429: number;
  peakRssMb: number;
  peakHeapMb: number;
  /** Heap still in use after a forced garbage collection at the end of the run. */
  liveHeapMb: number;
  result: Record<string, number>;
  check: Record<string, number>;
}

export interface ScenarioFigures {
  id: string;
  title: string;
  job: string;
  baseline: RunFigures;
  ours: RunFigures;
}

export interface BenchDocument {
  command: string;
  date: string;
  durationSeconds: number;
  machine: Record<string, string | number>;
  settings: {
    telegramMaxRps: number;
    fakeGlobalRpsFactor: number;
    fakePerChatRps: number;
    quick: boolean;
    users?: number;
    baselineUsers?: number;
  };
  scenarios: ScenarioFigures[];
  /** Many users at once (#12). */
  interactive?: InteractiveFigures[];
}

/** "4.0× fewer" / "1.3× more" / "same": ours against the baseline, lower is better. */
export function ratio(ours: number, baseline: number): string {
  if (ours === baseline) return 'same';
  if (ours === 0) return `${baseline} → 0`;
  if (baseline === 0) return `0 → ${ours}`;
  const factor = baseline / ours;
  return factor >= 1 ? `${factor.toFixed(1)}× fewer` : `${(1 / factor).toFixed(1)}× more`;
}

function outcome(figures: RunFigures): string {
  const c = figures.check;
  if (c.messagesExpected !== undefined) {
    const notices = figures.result.notices === undefined ? '' : `, ${figures.result.notices} notices`;
    return `${c.messagesDeleted}/${c.messagesExpected} deleted${notices}`;
  }
  if (c.tokensExpectedLeft !== undefined) return `${c.tokensLeft} left (expect ${c.tokensExpectedLeft})`;
  if (c.countersExpectedLeft !== undefined)
    return `${c.countersLeft} left (expect ${c.countersExpectedLeft})`;
  return '-';
}

const ms = (value: number | undefined) => (value === undefined ? '-' : `${Math.round(value)}`);
const lat = (figures: LatencyFigures | undefined) =>
  figures === undefined ? '-' : `${ms(figures.p50)} / ${ms(figures.p99)}`;

/** The many-users scenarios: one row per run, then the broadcast of three instances. */
export function formatInteractive(items: readonly InteractiveFigures[]): string {
  const rows: string[] = [
    '| scenario | impl | users served (exactly) | all served after (s) | s per user | updates/s | latency p50 / p99 (ms) | Bot API calls | calls/s mean / max 1-s window (TELEGRAM_MAX_RPS) | 429s | other errors | note |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  const broadcasts: string[] = [];
  for (const item of items) {
    if (item.kind === 'broadcast') {
      const c = item.combined;
      broadcasts.push(
        `${item.title}: combined Bot API calls ${c.calls} over ${c.busySeconds.toFixed(1)} s busy; ` +
          `max 1-s window ${c.maxSlidingWindow} (${((c.maxSlidingWindow / item.maxRps) * 100).toFixed(0)}% of TELEGRAM_MAX_RPS=${item.maxRps}, starting ${c.maxWindowAt.toFixed(1)} s in; whole clock seconds: max ${c.maxClockSecond}), ` +
          `copies alone: max 1-s window ${item.copies.maxSlidingWindow}, mean ${item.copies.meanPerSecond.toFixed(0)}/s from the first copy to the last (${item.copies.busySeconds.toFixed(1)} s); ` +
          `mean over the busy period ${c.meanPerSecond.toFixed(0)}/s (${((c.meanPerSecond / item.maxRps) * 100).toFixed(0)}%); ` +
          `429s ${item.answers429}; calls per clock second [${c.perSecond.join(', ')}]; ` +
          `per instance: ${item.perInstance.map((p) => `${p.delivered}/${p.total} delivered, ${p.failed} failed, ${(p.wallMs / 1000).toFixed(1)} s, ${p.status}`).join('; ')}; ` +
          `users holding all ${item.instances} copies: ${item.usersWithAllCopies}/${item.recipients}; ` +
          `copies accepted ${item.copiesDelivered}/${item.instances * item.recipients}${item.timedOut ? ' (NOT FINISHED when the bench stopped waiting)' : ''}`,
      );
      continue;
    }
    if (item.skipped) {
      rows.push(`| ${item.title} | - | | | | | | | | | | skipped: ${item.skipped} |`);
      continue;
    }
    item.runs.forEach((run, index) => {
      const errors = Object.entries(run.otherErrors)
        .map(([status, count]) => `${count}×${status}`)
        .join(', ');
      const notes = [
        run.note,
        run.firstStepLatencyMs
          ? `verification link p50/p99 ${lat(run.firstStepLatencyMs)} ms; whole flow p50/p99 ${lat(run.flowLatencyMs)} ms`
          : undefined,
        run.perReplica
          ? `replicas got ${run.perReplica.join('/')} updates, ${run.webhookFailures} non-2xx`
          : undefined,
      ].filter(Boolean);
      rows.push(
        `| ${index === 0 ? item.title : ''} | ${run.impl} | ${run.usersServed}/${run.users} (${run.usersExact}) | ${run.seconds.toFixed(1)} | ${run.secondsPerUser.toFixed(3)} | ${run.updatesPerSecond.toFixed(0)} | ${lat(run.latencyMs)} | ${run.botApiCalls} | ${run.rate.meanPerSecond.toFixed(0)} / ${run.rate.maxSlidingWindow} (${run.maxRps}) | ${run.answers429} | ${errors || '-'} | ${notes.join('; ')} |`,
      );
    });
    if (item.speedUpPerUser !== undefined && item.runs.length === 2) {
      rows.push(
        `| | **time per user, baseline ÷ ours** | | | ${item.speedUpPerUser.toFixed(1)}× sooner | | | | | | | |`,
      );
    }
  }
  const table = rows.length > 2 ? rows : [];
  return [...table, ...(table.length > 0 && broadcasts.length > 0 ? [''] : []), ...broadcasts].join('\n');
}

export function formatReport(document: BenchDocument): string {
  const idle = document.scenarios.find((scenario) => scenario.id === 'idle');
  const overIdle = (figures: RunFigures) => {
    const base = idle?.[figures.impl].peakRssMb;
    return base === undefined ? '-' : `${(figures.peakRssMb - base).toFixed(0)}`;
  };
  const rows: string[] = [
    '| scenario | impl | Bot API calls | DB round trips | wall (s) | calls/s (share of max) | 429s | peak RSS (MB) | RSS over idle (MB) | heap: peak / after GC (MB) | outcome |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const scenario of document.scenarios) {
    for (const figures of [scenario.baseline, scenario.ours]) {
      rows.push(
        `| ${figures.impl === 'baseline' ? scenario.title : ''} | ${figures.impl} | ${figures.botApiCalls} | ${figures.dbRoundTrips} | ${figures.wallSeconds.toFixed(1)} | ${figures.callsPerSecond.toFixed(0)} (${(figures.shareOfMaxRps * 100).toFixed(0)}%) | ${figures.answers429} | ${figures.peakRssMb.toFixed(0)} | ${overIdle(figures)} | ${figures.peakHeapMb.toFixed(0)} / ${figures.liveHeapMb?.toFixed(0) ?? '-'} | ${outcome(figures)} |`,
      );
    }
    const { ours, baseline } = scenario;
    rows.push(
      `| | **ours vs baseline** | ${ratio(ours.botApiCalls, baseline.botApiCalls)} | ${ratio(ours.dbRoundTrips, baseline.dbRoundTrips)} | ${ratio(ours.wallSeconds, baseline.wallSeconds)} | | | ${ratio(ours.peakRssMb, baseline.peakRssMb)} | | | |`,
    );
  }
  const m = document.machine;
  return [
    `${document.command} — ${document.date}, ${document.durationSeconds.toFixed(0)} s`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}; database: ${m.database}`,
    `TELEGRAM_MAX_RPS=${document.settings.telegramMaxRps} unless a scenario says otherwise; the fake Bot API answers 429 above 1.2 × that overall or ${document.settings.fakePerChatRps} message/s per chat`,
    ...(document.scenarios.length > 0 ? ['', ...rows] : []),
    ...(document.interactive && document.interactive.length > 0
      ? [
          '',
          `Many users at once: ours ${document.settings.users} users, baseline ${document.settings.baselineUsers} users`,
          '',
          formatInteractive(document.interactive),
        ]
      : []),
  ].join('\n');
}
