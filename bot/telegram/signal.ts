import type { Api } from 'grammy';

/** grammY types abort signals with a polyfill's interface; at runtime it accepts the platform's. */
export type GrammySignal = Parameters<Api['getMe']>[0];

export function forGrammy(signal: AbortSignal | undefined): GrammySignal {
  return signal as unknown as GrammySignal;
}
