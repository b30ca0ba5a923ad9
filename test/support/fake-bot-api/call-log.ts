/** One Bot API call as the fake answered it. */
export interface CallRecord {
  method: string;
  /** The parameters as the client sent them (JSON values, query-string values as strings). */
  params: Record<string, unknown>;
  /** Milliseconds on the injected clock when the call was answered. */
  time: number;
  /** HTTP status = Telegram's error_code, 200 on success. */
  status: number;
  ok: boolean;
  description?: string;
  retryAfter?: number;
}

export interface CallStats {
  totalCalls: number;
  callsByMethod: Record<string, number>;
  callsByStatus: Record<string, number>;
  count429: number;
  /** Sum of all retry_after values the fake advised, in seconds. */
  retryAfterTotalSeconds: number;
  firstCallAt: number | undefined;
  lastCallAt: number | undefined;
  /** Calls per whole second of the clock (key: unix second), for achieved-rate histograms. */
  callsPerSecond: Record<string, number>;
  /** Calls per second between the first and the last call (undefined below two calls). */
  averageCallsPerSecond: number | undefined;
}

/**
 * Keeps aggregate statistics always and, unless disabled for long benchmarks, every call with its
 * parameters so tests can assert on exactly what was sent.
 */
export class CallLog {
  private records: CallRecord[] = [];
  private byMethod = new Map<string, number>();
  private byStatus = new Map<number, number>();
  private perSecond = new Map<number, number>();
  private retryAfterTotal = 0;
  private firstAt: number | undefined;
  private lastAt: number | undefined;
  private total = 0;

  constructor(private readonly keepRecords: boolean) {}

  add(record: CallRecord): void {
    if (this.keepRecords) this.records.push(record);
    this.total++;
    this.byMethod.set(record.method, (this.byMethod.get(record.method) ?? 0) + 1);
    this.byStatus.set(record.status, (this.byStatus.get(record.status) ?? 0) + 1);
    const second = Math.floor(record.time / 1000);
    this.perSecond.set(second, (this.perSecond.get(second) ?? 0) + 1);
    if (record.retryAfter !== undefined) this.retryAfterTotal += record.retryAfter;
    this.firstAt ??= record.time;
    this.lastAt = record.time;
  }

  get calls(): readonly CallRecord[] {
    return this.records;
  }

  count(method?: string): number {
    return method === undefined ? this.total : (this.byMethod.get(method) ?? 0);
  }

  countStatus(status: number): number {
    return this.byStatus.get(status) ?? 0;
  }

  reset(): void {
    this.records = [];
    this.byMethod.clear();
    this.byStatus.clear();
    this.perSecond.clear();
    this.retryAfterTotal = 0;
    this.firstAt = undefined;
    this.lastAt = undefined;
    this.total = 0;
  }

  stats(): CallStats {
    const span = this.firstAt === undefined || this.lastAt === undefined ? 0 : this.lastAt - this.firstAt;
    return {
      totalCalls: this.total,
      callsByMethod: Object.fromEntries(this.byMethod),
      callsByStatus: Object.fromEntries(this.byStatus),
      count429: this.countStatus(429),
      retryAfterTotalSeconds: this.retryAfterTotal,
      firstCallAt: this.firstAt,
      lastCallAt: this.lastAt,
      callsPerSecond: Object.fromEntries(this.perSecond),
      averageCallsPerSecond: this.total > 1 && span > 0 ? (this.total - 1) / (span / 1000) : undefined,
    };
  }
}
