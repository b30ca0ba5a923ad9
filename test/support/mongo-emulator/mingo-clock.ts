import { Context, evalExpr } from 'mingo/core';
import type { Options } from 'mingo/types';

/*
 * How the server clock reaches mingo's $$NOW.
 *
 * mingo evaluates $$NOW from a `timestamp` kept in the locals of its compute options, and when
 * none is set it takes Date.now() the first time $$NOW is read, which is the host's clock, not
 * the emulator's. It has no option for supplying the time and does not export its
 * ComputeOptions class, but it does keep the locals of a ComputeOptions it is handed: Query,
 * Aggregator, $match, $lookup, $unionWith, $expr and every expression copy them ($facet does
 * not, and is replaced in query-matcher.ts). So each command builds its queries and pipelines
 * from a ComputeOptions whose timestamp is the command's server time, and everything evaluated
 * for that command agrees on one instant, as mongod's $$NOW does.
 */

/** What is used here of mingo's ComputeOptions: the options object every operator receives. */
export interface ComputeOptions extends Options {
  /** The plain options the instance was built from. */
  readonly options: Options;
  /** Per-evaluation state; `timestamp` (ms since the epoch) is what $$NOW evaluates to. */
  readonly local: { timestamp?: number };
  /** $$NOW as mingo sees it. */
  readonly now: Date;
}

interface ComputeOptionsClass {
  /** Plain options get fresh locals; a ComputeOptions instance is copied with its locals. */
  init(options: Partial<Options>): ComputeOptions;
}

/**
 * mingo calls every operator with a ComputeOptions instance, so an operator that returns its
 * options hands one over, and with it the class. The probe operator lives in a context of its
 * own so that no client expression can reach it.
 */
const ComputeOptionsClass = (() => {
  const probe = Context.init({
    expression: { $computeOptions: (_obj: unknown, _expr: unknown, options: Options) => options },
  });
  const instance = evalExpr(null, { $computeOptions: null }, { context: probe } as Options) as object;
  return instance.constructor as unknown as ComputeOptionsClass;
})();

/**
 * Compute options whose $$NOW is `now`. Without `now` (filters evaluated outside any command,
 * such as a partial index's, where mongod allows no $expr) mingo's own fallback is left alone.
 */
export function computeOptions(options: Partial<Options>, now?: Date): ComputeOptions {
  const result = ComputeOptionsClass.init(options);
  if (now === undefined) return result;
  // mingo treats a timestamp of 0 as "not set"; the smallest positive number is still the epoch
  // once Date truncates it to whole milliseconds.
  result.local.timestamp = now.getTime() || Number.MIN_VALUE;
  if (result.now.getTime() !== now.getTime()) {
    // A mingo upgrade changed where $$NOW comes from; answering with the host's clock would be
    // silently wrong.
    throw new Error(`mingo did not take the server time ${now.getTime()} for $$NOW`);
  }
  return result;
}
