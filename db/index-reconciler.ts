import type { Db, Document } from 'mongodb';
import { MongoServerError } from 'mongodb';
import type { IndexDefinition } from './indexes.js';

/*
 * Index reconciliation: what the database has is compared with what the code declares
 * (CORE_INDEXES), a plan is made, and the plan is applied. `npm run db:check` prints the same
 * plan without applying it.
 */

/** The minimum of a logger the reconciler needs (pino's Logger fits). */
export interface ReconcileLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** An index as `listIndexes` returns it. */
export type IndexInfo = Document & { name: string; key: Document };

export type IndexAction =
  /** Present under our name with the same definition. */
  | { kind: 'unchanged'; collection: string; name: string }
  /** Present under another name (made by hand, or by the original bot): used as it is. */
  | { kind: 'equivalent'; collection: string; name: string; existingName: string }
  /** Missing: built. */
  | { kind: 'create'; collection: string; name: string; definition: IndexDefinition }
  /** Only options collMod can change differ (expireAfterSeconds, hidden): changed in place. */
  | {
      kind: 'migrate';
      collection: string;
      name: string;
      /** The index changed: ours, or an equivalent one under another name. */
      existingName: string;
      changes: Array<{ option: 'expireAfterSeconds' | 'hidden'; from: unknown; to: unknown }>;
    }
  /** Our name, another definition (key, uniqueness, partial filter...): dropped and built again. */
  | {
      kind: 'rebuild';
      collection: string;
      name: string;
      definition: IndexDefinition;
      existing: IndexInfo;
      differences: string[];
    }
  /** Present, not declared and not equivalent to a declared index: left alone. */
  | { kind: 'extra'; collection: string; name: string; key: Document };

/** Data that would make a unique index build fail: one duplicated key, as an example. */
export interface DuplicateProblem {
  collection: string;
  index: string;
  fields: string[];
  /** The values of the key fields shared by several documents. */
  values: unknown[];
  count: number;
}

export interface IndexPlan {
  /** Whether builds are run with `commitQuorum: 'majority'` (replica sets and sharded clusters). */
  commitQuorum: boolean;
  actions: IndexAction[];
  /** Unique indexes the plan would build that the data does not allow; start-up stops on them. */
  problems: DuplicateProblem[];
}

export interface IndexReport {
  created: string[];
  migrated: string[];
  rebuilt: string[];
  equivalent: string[];
  extra: string[];
  unchanged: string[];
}

export interface ReconcileOptions {
  /** maxTimeMS of each index build; a build that takes longer stops the start. */
  buildTimeoutMs?: number;
  logger?: ReconcileLogger;
}

export const DEFAULT_INDEX_BUILD_TIMEOUT_MS = 600_000;
export const REPAIRING_DUPLICATES_HINT = 'see README "Repairing duplicates"';

/** An index problem an operator has to solve before the bot can start (duplicates, a timed-out build). */
export class IndexReconcileError extends Error {
  override readonly name = 'IndexReconcileError';
}

const NAMESPACE_NOT_FOUND = 26;
const INDEX_NOT_FOUND = 27;
const DUPLICATE_KEY = 11000;
const MAX_TIME_MS_EXPIRED = 50;

// --- comparison ----------------------------------------------------------------------------

function truthy(value: unknown): boolean {
  return value === true || (typeof value === 'number' && value !== 0);
}

/** JSON with object keys sorted, for filters and collations where the order does not matter. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v as Document).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Key patterns are ordered: `{a: 1, b: 1}` is not `{b: 1, a: 1}`; `1` and `1.0` are the same. */
function sameKey(a: Document, b: Document): boolean {
  const left = Object.entries(a);
  const right = Object.entries(b);
  return (
    left.length === right.length &&
    left.every(([field, direction], i) => {
      const [otherField, otherDirection] = right[i] as [string, unknown];
      return field === otherField && Number(direction) === Number(otherDirection);
    })
  );
}

function collationOf(spec: Document): string | null {
  const collation = spec.collation as Document | undefined;
  if (collation === undefined || collation === null || collation.locale === 'simple') return null;
  return canonical(collation);
}

/**
 * What identifies an index for mongod (key, unique, sparse, partial filter, collation): two
 * indexes differing there are different indexes; agreeing there, they are the same index
 * whatever their names (mongod refuses a second one with code 85 or 86).
 */
function identityDifferences(declared: Document, existing: Document): string[] {
  const differences: string[] = [];
  if (!sameKey(declared.key, existing.key)) differences.push('key');
  if (truthy(declared.unique) !== truthy(existing.unique)) differences.push('unique');
  if (truthy(declared.sparse) !== truthy(existing.sparse)) differences.push('sparse');
  if (
    canonical(declared.partialFilterExpression ?? null) !==
    canonical(existing.partialFilterExpression ?? null)
  ) {
    differences.push('partialFilterExpression');
  }
  if (collationOf(declared) !== collationOf(existing)) differences.push('collation');
  if (declared.expireAfterSeconds === undefined && existing.expireAfterSeconds !== undefined) {
    differences.push('expireAfterSeconds');
  }
  return differences;
}

/**
 * Options collMod changes in place: expireAfterSeconds (set or changed; mongod 5.1+ also turns a
 * plain single-field index into a TTL one) and hidden. Removing a TTL cannot be done in place and
 * counts as an identity difference.
 */
function modifiableChanges(
  declared: Document,
  existing: Document,
): Extract<IndexAction, { kind: 'migrate' }>['changes'] {
  const changes: Extract<IndexAction, { kind: 'migrate' }>['changes'] = [];
  const wanted = declared.expireAfterSeconds as number | undefined;
  const present = existing.expireAfterSeconds as number | undefined;
  if (wanted !== undefined && (present === undefined || Number(wanted) !== Number(present))) {
    changes.push({ option: 'expireAfterSeconds', from: present, to: wanted });
  }
  if (truthy(declared.hidden) !== truthy(existing.hidden)) {
    changes.push({ option: 'hidden', from: truthy(existing.hidden), to: truthy(declared.hidden) });
  }
  return changes;
}

/** The declaration as an index spec, the way createIndexes takes it. */
export function specOf(definition: IndexDefinition): Document & { name: string; key: Document } {
  return { key: definition.key as Document, ...definition.options };
}

// --- planning ------------------------------------------------------------------------------

/** The indexes of a collection; a collection that does not exist has none. */
export async function listIndexes(db: Db, collection: string): Promise<IndexInfo[]> {
  try {
    return (await db.collection(collection).listIndexes().toArray()) as IndexInfo[];
  } catch (error) {
    if (error instanceof MongoServerError && error.code === NAMESPACE_NOT_FOUND) return [];
    throw error;
  }
}

/** Replica set members and mongos accept `commitQuorum`; a standalone mongod refuses it. */
export function supportsCommitQuorum(hello: Document): boolean {
  return typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
}

function groupByCollection(definitions: readonly IndexDefinition[]): Map<string, IndexDefinition[]> {
  const byCollection = new Map<string, IndexDefinition[]>();
  for (const definition of definitions) {
    const list = byCollection.get(definition.collection) ?? [];
    list.push(definition);
    byCollection.set(definition.collection, list);
  }
  return byCollection;
}

/** Compares one collection's declared indexes with the ones it has. Pure, so it is easy to test. */
export function planCollection(
  collection: string,
  declared: readonly IndexDefinition[],
  existing: readonly IndexInfo[],
): IndexAction[] {
  const actions: IndexAction[] = [];
  const accounted = new Set<string>(['_id_']);
  for (const definition of declared) {
    const spec = specOf(definition);
    const name = spec.name;
    const sameName = existing.find((index) => index.name === name);
    if (sameName && identityDifferences(spec, sameName).length === 0) {
      accounted.add(name);
      const changes = modifiableChanges(spec, sameName);
      actions.push(
        changes.length === 0
          ? { kind: 'unchanged', collection, name }
          : { kind: 'migrate', collection, name, existingName: name, changes },
      );
      continue;
    }
    const equivalent = existing.find(
      (index) => index.name !== name && identityDifferences(spec, index).length === 0,
    );
    if (equivalent) {
      accounted.add(equivalent.name);
      const changes = modifiableChanges(spec, equivalent);
      actions.push(
        changes.length === 0
          ? { kind: 'equivalent', collection, name, existingName: equivalent.name }
          : { kind: 'migrate', collection, name, existingName: equivalent.name, changes },
      );
      // Our name on another definition, next to an equivalent index: it is left alone (as extra).
      continue;
    }
    if (sameName) {
      accounted.add(name);
      actions.push({
        kind: 'rebuild',
        collection,
        name,
        definition,
        existing: sameName,
        differences: identityDifferences(spec, sameName),
      });
      continue;
    }
    actions.push({ kind: 'create', collection, name, definition });
  }
  for (const index of existing) {
    if (!accounted.has(index.name))
      actions.push({ kind: 'extra', collection, name: index.name, key: index.key });
  }
  return actions;
}

/**
 * One set of documents sharing the key of a unique index that is to be built, or undefined.
 * Missing fields and null are the same key for a unique index, as they are here.
 */
export async function findDuplicate(
  db: Db,
  definition: IndexDefinition,
): Promise<DuplicateProblem | undefined> {
  const spec = specOf(definition);
  const fields = Object.keys(spec.key);
  const match: Document = { ...(spec.partialFilterExpression as Document | undefined) };
  if (truthy(spec.sparse)) {
    match.$or = fields.map((field) => ({ [field]: { $exists: true } }));
  }
  const pipeline: Document[] = [
    ...(Object.keys(match).length > 0 ? [{ $match: match }] : []),
    {
      $group: {
        _id: Object.fromEntries(fields.map((field, i) => [`k${i}`, { $ifNull: [`$${field}`, null] }])),
        count: { $sum: 1 },
      },
    },
    { $match: { count: { $gt: 1 } } },
    { $limit: 1 },
  ];
  const [found] = await db
    .collection(definition.collection)
    .aggregate<{ _id: Document; count: number }>(pipeline, { allowDiskUse: true })
    .toArray();
  if (!found) return undefined;
  return {
    collection: definition.collection,
    index: spec.name,
    fields,
    values: fields.map((_field, i) => found._id[`k${i}`]),
    count: found.count,
  };
}

/**
 * Lists every collection's indexes and decides what start-up does with each; changes nothing.
 * Unique indexes it would build are checked against the data.
 */
export async function planIndexes(db: Db, definitions: readonly IndexDefinition[]): Promise<IndexPlan> {
  const hello = await db.admin().command({ hello: 1 });
  const actions: IndexAction[] = [];
  for (const [collection, declared] of groupByCollection(definitions)) {
    actions.push(...planCollection(collection, declared, await listIndexes(db, collection)));
  }
  const problems: DuplicateProblem[] = [];
  for (const action of actions) {
    if ((action.kind === 'create' || action.kind === 'rebuild') && truthy(action.definition.options.unique)) {
      const duplicate = await findDuplicate(db, action.definition);
      if (duplicate) problems.push(duplicate);
    }
  }
  return { commitQuorum: supportsCommitQuorum(hello), actions, problems };
}

// --- describing ----------------------------------------------------------------------------

function formatValue(value: unknown): string {
  const text =
    typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value === null
      ? String(value)
      : value instanceof Date
        ? value.toISOString()
        : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `duplicate user_id 12345 (2 documents)`; compound keys name every field. */
export function describeDuplicate(problem: DuplicateProblem): string {
  const key = problem.fields.map((field, i) => `${field} ${formatValue(problem.values[i])}`).join(', ');
  return `cannot build unique index ${problem.index} on ${problem.collection}: duplicate ${key} (${problem.count} documents); ${REPAIRING_DUPLICATES_HINT}`;
}

function formatKey(key: Document): string {
  return `{${Object.entries(key)
    .map(([field, direction]) => `${field}: ${String(direction)}`)
    .join(', ')}}`;
}

/** `{job: 1} unique partial {"status":"running"}`, `{expire_at: 1} expireAfterSeconds 0`. */
function describeSpec(spec: Document): string {
  return [
    formatKey(spec.key as Document),
    ...(truthy(spec.unique) ? ['unique'] : []),
    ...(truthy(spec.sparse) ? ['sparse'] : []),
    ...(spec.partialFilterExpression ? [`partial ${canonical(spec.partialFilterExpression)}`] : []),
    ...(spec.expireAfterSeconds !== undefined
      ? [`expireAfterSeconds ${String(spec.expireAfterSeconds)}`]
      : []),
  ].join(' ');
}

/** One line per action, as `npm run db:check` prints it. */
export function describeAction(action: IndexAction): string {
  const at = `${action.collection}.${action.name}`;
  switch (action.kind) {
    case 'unchanged':
      return `ok       ${at}`;
    case 'equivalent':
      return `ok       ${at}: served by the equivalent index ${action.existingName}, kept as it is`;
    case 'create':
      return `create   ${at} ${describeSpec(specOf(action.definition))}`;
    case 'migrate':
      return `modify   ${action.collection}.${action.existingName}: ${action.changes
        .map(
          (change) =>
            `${change.option} ${formatValue(change.from ?? null)} -> ${formatValue(change.to ?? null)}`,
        )
        .join(', ')} (collMod, in place)`;
    case 'rebuild':
      return `rebuild  ${at}: ${action.differences.join(', ')} changed (drop, then build)`;
    case 'extra':
      return `extra    ${at} ${formatKey(action.key)}: not declared by the bot, left alone`;
  }
}

/** Whether applying the plan changes anything. */
export function planChanges(plan: IndexPlan): IndexAction[] {
  return plan.actions.filter((action) => ['create', 'migrate', 'rebuild'].includes(action.kind));
}

export function reportOf(actions: readonly IndexAction[]): IndexReport {
  const report: IndexReport = {
    created: [],
    migrated: [],
    rebuilt: [],
    equivalent: [],
    extra: [],
    unchanged: [],
  };
  for (const action of actions) {
    const at = `${action.collection}.${action.name}`;
    if (action.kind === 'create') report.created.push(at);
    else if (action.kind === 'migrate') report.migrated.push(at);
    else if (action.kind === 'rebuild') report.rebuilt.push(at);
    else if (action.kind === 'equivalent') report.equivalent.push(`${at}=${action.existingName}`);
    else if (action.kind === 'extra') report.extra.push(at);
    else report.unchanged.push(at);
  }
  return report;
}

// --- applying ------------------------------------------------------------------------------

const silent: ReconcileLogger = { info() {}, warn() {} };
const MAJORITY = { w: 'majority' } as const;

async function build(
  db: Db,
  definition: IndexDefinition,
  plan: IndexPlan,
  options: Required<ReconcileOptions>,
): Promise<void> {
  const spec = specOf(definition);
  const { logger } = options;
  const started = Date.now();
  logger.info(
    { collection: definition.collection, index: spec.name, key: spec.key, commitQuorum: plan.commitQuorum },
    'index build started',
  );
  try {
    await db.command({
      createIndexes: definition.collection,
      indexes: [spec],
      ...(plan.commitQuorum ? { commitQuorum: 'majority' } : {}),
      maxTimeMS: options.buildTimeoutMs,
      writeConcern: MAJORITY,
    });
  } catch (error) {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY && truthy(spec.unique)) {
      const duplicate = await findDuplicate(db, definition);
      throw new IndexReconcileError(
        duplicate
          ? describeDuplicate(duplicate)
          : `cannot build unique index ${spec.name} on ${definition.collection}: ${error.message}; ${REPAIRING_DUPLICATES_HINT}`,
        { cause: error },
      );
    }
    if (error instanceof MongoServerError && error.code === MAX_TIME_MS_EXPIRED) {
      throw new IndexReconcileError(
        `building index ${spec.name} on ${definition.collection} took longer than ${options.buildTimeoutMs} ms (MONGODB_INDEX_BUILD_TIMEOUT_MS); ` +
          'the server may still be building it: check db.currentOp(), then start again or raise the timeout',
        { cause: error },
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new IndexReconcileError(`cannot build index ${spec.name} on ${definition.collection}: ${reason}`, {
      cause: error,
    });
  }
  logger.info(
    { collection: definition.collection, index: spec.name, durationMs: Date.now() - started },
    'index build finished',
  );
}

async function apply(
  db: Db,
  action: IndexAction,
  plan: IndexPlan,
  options: Required<ReconcileOptions>,
): Promise<void> {
  const { logger } = options;
  switch (action.kind) {
    case 'unchanged':
      return;
    case 'equivalent':
      logger.info(
        { collection: action.collection, index: action.name, existing: action.existingName },
        'an equivalent index exists under another name; it is used as it is',
      );
      return;
    case 'extra':
      logger.warn(
        { collection: action.collection, index: action.name, key: action.key },
        'an index the bot does not declare is left alone; drop it by hand if nothing uses it',
      );
      return;
    case 'migrate': {
      const index: Document = { name: action.existingName };
      for (const change of action.changes) index[change.option] = change.to;
      await db.command({ collMod: action.collection, index, writeConcern: MAJORITY });
      logger.info(
        { collection: action.collection, index: action.existingName, changes: action.changes },
        'index options changed in place (collMod)',
      );
      return;
    }
    case 'create':
      await build(db, action.definition, plan, options);
      return;
    case 'rebuild': {
      // Another instance may have rebuilt it since the plan was made: look again just before.
      const current = (await listIndexes(db, action.collection)).find((index) => index.name === action.name);
      if (current && identityDifferences(specOf(action.definition), current).length === 0) return;
      logger.warn(
        {
          collection: action.collection,
          index: action.name,
          differences: action.differences,
          was: { key: action.existing.key, unique: truthy(action.existing.unique) },
        },
        'index definition changed: dropping it and building it again',
      );
      if (current) {
        try {
          await db.command({ dropIndexes: action.collection, index: action.name, writeConcern: MAJORITY });
        } catch (error) {
          if (!(error instanceof MongoServerError && error.code === INDEX_NOT_FOUND)) throw error;
        }
      }
      await build(db, action.definition, plan, options);
      return;
    }
  }
}

/**
 * Applies a plan made by planIndexes. Duplicates that block a unique index stop it before it
 * changes anything.
 */
export async function applyIndexPlan(
  db: Db,
  plan: IndexPlan,
  options: ReconcileOptions = {},
): Promise<IndexReport> {
  const resolved: Required<ReconcileOptions> = {
    buildTimeoutMs: options.buildTimeoutMs ?? DEFAULT_INDEX_BUILD_TIMEOUT_MS,
    logger: options.logger ?? silent,
  };
  const [problem] = plan.problems;
  if (problem) throw new IndexReconcileError(describeDuplicate(problem));
  for (const action of plan.actions) await apply(db, action, plan, resolved);
  return reportOf(plan.actions);
}

/** Plans, then applies: what start-up runs. */
export async function reconcileIndexes(
  db: Db,
  definitions: readonly IndexDefinition[],
  options: ReconcileOptions = {},
): Promise<IndexReport> {
  return applyIndexPlan(db, await planIndexes(db, definitions), options);
}
