/**
 * Reads one sample out of Prometheus' text format, so tests assert on what a scraper would see
 * rather than on prom-client's internals. Labels not given are not compared.
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = parseLabels(match[2] ?? '');
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) {
      return match[3]?.toLowerCase() === 'nan' ? Number.NaN : Number(match[3]);
    }
  }
  return undefined;
}

function parseLabels(raw: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [, key, value] of raw.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    if (key !== undefined && value !== undefined) labels[key] = value.replace(/\\(.)/g, '$1');
  }
  return labels;
}
