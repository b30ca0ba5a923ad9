import type { Document } from 'bson';

/**
 * The subset of mongod's error codes (src/mongo/base/error_codes.yml) the emulator returns.
 * Drivers and application code branch on these numbers, so they must be the real ones.
 */
export const ErrorCodes = {
  InternalError: 1,
  BadValue: 2,
  FailedToParse: 9,
  TypeMismatch: 14,
  InvalidLength: 16,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  DollarPrefixedFieldName: 52,
  InvalidIdField: 53,
  NotSingleValueField: 54,
  EmptyFieldName: 56,
  CommandNotFound: 59,
  ImmutableField: 66,
  CannotCreateIndex: 67,
  InvalidOptions: 72,
  UnsatisfiableWriteConcern: 100,
  InvalidNamespace: 73,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  CannotIndexParallelArrays: 171,
  IDLUnknownField: 40415,
  QueryPlanKilled: 175,
  InvalidIndexSpecificationOption: 197,
  QueryFeatureNotAllowed: 224,
  TransactionTooOld: 225,
  NotImplemented: 238,
  UnsatisfiableCommitQuorum: 278,
  DuplicateKey: 11000,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;

/**
 * A failure that mongod would report to the client. Thrown anywhere below the command layer;
 * the dispatcher turns it into `{ok: 0, ...}` and write commands into a `writeErrors` entry.
 */
export class MongoCommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  /** Extra reply fields mongod attaches to this error (e.g. `keyPattern`/`keyValue` for 11000). */
  readonly details: Document;

  constructor(code: number, codeName: string, message: string, details: Document = {}) {
    super(message);
    this.name = 'MongoCommandError';
    this.code = code;
    this.codeName = codeName;
    this.details = details;
  }

  toCommandReply(): Document {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.details };
  }

  /** Shape of one entry of a write command's `writeErrors` array (mongod omits codeName there). */
  toWriteError(index: number): Document {
    return { index, code: this.code, errmsg: this.message, ...this.details };
  }
}

export function commandError(
  codeName: ErrorCodeName,
  message: string,
  details?: Document,
): MongoCommandError {
  return new MongoCommandError(ErrorCodes[codeName], codeName, message, details);
}

/** Errors that mongod reports with a bare assertion id, whose codeName is `Location<code>`. */
export function locationError(code: number, message: string): MongoCommandError {
  return new MongoCommandError(code, `Location${code}`, message);
}

export function notImplemented(feature: string): MongoCommandError {
  return commandError('NotImplemented', `mongo-emulator does not implement ${feature}`);
}

/**
 * mingo reports invalid queries and pipelines with plain Errors; map the ones with a mongod
 * equivalent onto mongod's code so callers see the same failure a server would give them.
 */
export function toMongoCommandError(error: unknown): MongoCommandError {
  if (error instanceof MongoCommandError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const isMingo = error instanceof Error && error.constructor.name === 'MingoError';
  if (!isMingo) return commandError('InternalError', message);

  const topLevel = /unknown top level operator: (\$\w+)/.exec(message);
  if (topLevel) {
    return commandError(
      'BadValue',
      `unknown top level operator: ${topLevel[1]}. If you are trying to match a field name beginning with a $, use $getField.`,
    );
  }
  if (message === 'Use of undefined variable: CLUSTER_TIME') {
    // A standalone has no cluster time; mongod refuses the variable when it is evaluated.
    return locationError(51144, "Builtin variable '$$CLUSTER_TIME' is not available");
  }
  const queryOperator = /unknown query operator (\$\w+)/.exec(message);
  if (queryOperator) return commandError('BadValue', `unknown operator: ${queryOperator[1]}`);
  const stage = /unregistered pipeline operator (\$\w+)/.exec(message);
  if (stage) return locationError(40324, `Unrecognized pipeline stage name: '${stage[1]}'`);
  const expression = /unknown (?:expression )?operator:? ?'?(\$\w+)/i.exec(message);
  if (expression) return locationError(31325, `Unknown expression ${expression[1]}`);
  return commandError('BadValue', message);
}
