/** A start-up failure the operator can fix (database unreachable, token refused); printed as one line, without a stack. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
