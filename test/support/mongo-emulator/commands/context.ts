import type { Document } from 'bson';
import { bsonTypeName, isNumeric, isPlainObject, toNumber } from '../bson-values.js';
import type { CursorRegistry } from '../cursor-registry.js';
import { commandError } from '../errors.js';
import { assertValidCollectionName, assertValidDatabaseName, type Store } from '../store.js';
import type { ServerTopology } from '../topology.js';

export interface CommandContext {
  /** Database the command runs against (`$db`). */
  db: string;
  store: Store;
  cursors: CursorRegistry;
  /**
   * The server clock, read once when the command arrived. mongod fixes $$NOW per operation, so
   * every document a command touches, and every batch its cursor returns later, sees this one
   * instant; $currentDate uses it too.
   */
  now: Date;
  connectionId: number;
  topology: ServerTopology;
}

export type CommandHandler = (command: Document, context: CommandContext) => Document;

/** The collection a command names in its first field, validated as mongod does. */
export function targetCollection(command: Document, name: string, context: CommandContext): string {
  const value = command[name];
  if (typeof value !== 'string') {
    throw commandError('InvalidNamespace', `collection name has invalid type ${bsonTypeName(value)}`);
  }
  assertValidDatabaseName(context.db);
  assertValidCollectionName(context.db, value);
  return value;
}

export function optionalDocument(
  command: Document,
  field: string,
  commandName: string,
): Document | undefined {
  const value = command[field];
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    throw commandError(
      'TypeMismatch',
      `BSON field '${commandName}.${field}' is the wrong type '${bsonTypeName(value)}', expected type 'object'`,
    );
  }
  return value;
}

export function optionalNumber(command: Document, field: string, commandName: string): number | undefined {
  const value = command[field];
  if (value === undefined || value === null) return undefined;
  if (!isNumeric(value)) {
    throw commandError(
      'TypeMismatch',
      `BSON field '${commandName}.${field}' is the wrong type '${bsonTypeName(value)}', expected types '[long, int, decimal, double]'`,
    );
  }
  return Math.trunc(toNumber(value));
}

export function nonNegative(
  value: number | undefined,
  field: string,
  commandName: string,
): number | undefined {
  if (value !== undefined && value < 0) {
    throw commandError(
      'BadValue',
      `BSON field '${commandName}.${field}' value must be >= 0, actual value '${value}'`,
    );
  }
  return value;
}

export function requireArray(command: Document, field: string, commandName: string): unknown[] {
  const value = command[field];
  if (!Array.isArray(value)) {
    if (value === undefined) {
      throw commandError(
        'FailedToParse',
        `BSON field '${commandName}.${field}' is missing but a required field`,
      );
    }
    throw commandError(
      'TypeMismatch',
      `BSON field '${commandName}.${field}' is the wrong type '${bsonTypeName(value)}', expected type 'array'`,
    );
  }
  return value;
}
