/**
 * A collection in the browser: the same operations, with the same checks and the same
 * error messages, as a collection in the server (crates/gesta-js/src/prelude.js), over
 * plain state. A reducer therefore behaves the same on both sides: a row the server
 * would refuse, the browser refuses too.
 */

/** The type of a column, as an app declares it. */
export type ColumnType = "text" | "integer" | "real" | "boolean" | "json";

/** A collection as an app module declares it. */
export interface CollectionDef {
  /** The column that is the primary key (a `text` or `integer` one). */
  key: string;
  /** Each column's type. */
  columns: Record<string, ColumnType>;
  /** Bumped by the app when its reducer changes meaning (the server then rebuilds it). */
  version?: number;
}

/** A row: the declared columns, absent ones `null`. */
export type Row = Record<string, unknown>;

/** A collection's rows by key (the key as a string, as object keys are). */
export type Rows = Readonly<Record<string, Row>>;

/** A collection's key: a string for a `text` key, a safe integer for an `integer` one. */
export type Key = string | number;

const fail = (message: string): never => {
  throw new Error(message);
};

/**
 * One collection during one reducer call. Its operations return the collection itself,
 * as in the server; the first change copies the rows, so the state it was made from is
 * never changed (Redux's rule) and an unchanged collection keeps its identity.
 */
export class Collection {
  /** The collection's name. */
  readonly name: string;
  private readonly def: CollectionDef;
  private current: Record<string, Row>;
  private copied = false;

  constructor(name: string, def: CollectionDef, rows: Rows) {
    this.name = name;
    this.def = def;
    this.current = rows as Record<string, Row>;
  }

  /** The rows now: the very object given when nothing changed. */
  get rows(): Rows {
    return this.current;
  }

  /** The row with `key` (a copy: changing it changes nothing), or `undefined`. */
  get(key: Key): Row | undefined {
    this.checkKey(key);
    const row = this.current[String(key)];
    return row === undefined ? undefined : copy(row);
  }

  /** Adds `row`; a row with its key must not exist yet. */
  insert(row: Row): this {
    const out = this.normalize(row);
    const key = String(out[this.def.key]);
    if (Object.prototype.hasOwnProperty.call(this.current, key)) {
      fail(`${this.name}: a row with key ${JSON.stringify(out[this.def.key])} already exists`);
    }
    this.write(key, out);
    return this;
  }

  /** Replaces the row with `key` by `change(row)`; the row must exist and keep its key. */
  update(key: Key, change: (row: Row) => Row): this {
    const before = this.get(key);
    if (before === undefined) fail(`${this.name}: no row with key ${JSON.stringify(key)} to update`);
    const after = this.normalize(change(before as Row));
    if (after[this.def.key] !== key) fail(`${this.name}: update may not change the key`);
    this.write(String(key), after);
    return this;
  }

  /** Adds `row`, or replaces the row with its key. */
  upsert(row: Row): this {
    const out = this.normalize(row);
    this.write(String(out[this.def.key]), out);
    return this;
  }

  /** Removes the row with `key`; nothing happens when there is none. */
  remove(key: Key): this {
    this.checkKey(key);
    const k = String(key);
    if (Object.prototype.hasOwnProperty.call(this.current, k)) {
      this.own();
      delete this.current[k];
    }
    return this;
  }

  private write(key: string, row: Row): void {
    this.own();
    this.current[key] = row;
  }

  private own(): void {
    if (!this.copied) {
      this.current = { ...this.current };
      this.copied = true;
    }
  }

  // The row as stored: exactly the declared columns (absent ones null), each of its
  // declared type; json values as they come back from the server's JSON text.
  private normalize(row: unknown): Row {
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      fail(`${this.name}: a row must be an object, not ${JSON.stringify(row)}`);
    }
    const given = row as Row;
    for (const column of Object.keys(given)) {
      if (!Object.prototype.hasOwnProperty.call(this.def.columns, column)) fail(`${this.name}: no column named ${JSON.stringify(column)}`);
    }
    const out: Row = {};
    for (const [column, type] of Object.entries(this.def.columns)) {
      const value = given[column] === undefined ? null : given[column];
      const ok =
        value === null ||
        (type === "text" && typeof value === "string") ||
        (type === "integer" && Number.isSafeInteger(value)) ||
        (type === "real" && typeof value === "number" && Number.isFinite(value)) ||
        (type === "boolean" && typeof value === "boolean") ||
        type === "json";
      if (!ok) fail(`${this.name}.${column}: ${JSON.stringify(value)} is not ${type}`);
      out[column] = type === "json" && value !== null ? roundTrip(value) : value;
    }
    this.checkKey(out[this.def.key]);
    return out;
  }

  private checkKey(key: unknown): void {
    const type = this.def.columns[this.def.key];
    if (type === "text" ? typeof key !== "string" : !Number.isSafeInteger(key)) {
      fail(
        `${this.name}: the key ${this.def.key} must be a ${type === "text" ? "string" : "safe integer"}, not ${JSON.stringify(key)}`,
      );
    }
  }
}

// What the server keeps of a json value: its JSON text, read back.
function roundTrip(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

function copy(row: Row): Row {
  const out: Row = {};
  for (const [column, value] of Object.entries(row)) {
    out[column] = value !== null && typeof value === "object" ? roundTrip(value) : value;
  }
  return out;
}
