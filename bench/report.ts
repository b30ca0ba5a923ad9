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
  settings: { telegramMaxRps: number; fakeGlobalRpsFactor: number; fakePerChatRps: number; quick: boolean };
  scenarios: ScenarioFigures[];
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
    '',
    ...rows,
  ].join('\n');
}
