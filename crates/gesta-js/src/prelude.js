// Gesta's side of a JavaScript app inside the server's engine. Evaluated once per
// engine before the app's module. The server's collections are its SQL tables: every
// operation goes to the native functions, which run SQL in the command's transaction.
// The browser's collections (@gesta/client) implement the same operations, with the
// same checks, over plain immutable state.
(() => {
  "use strict";
  const native = globalThis.__gesta_native;
  delete globalThis.__gesta_native;
  const TYPES = ["text", "integer", "real", "boolean", "json"];
  const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
  let app = null;
  const collections = {};

  class Rejected {
    constructor(detail, forbidden) {
      this.detail = String(detail);
      this.forbidden = forbidden;
    }
  }

  const hasOwn = Object.prototype.hasOwnProperty;
  const fail = (message) => {
    throw new Error(message);
  };

  // The row as stored: exactly the declared columns (absent ones null), each of its
  // declared type. Both the server and the browser normalize rows this way. The
  // server's answer is the row's cells in column-name order (the order of the
  // table's columns in Gesta), a json column's value as its JSON text: the native
  // functions bind them as they are, without a JSON round trip of the row.
  // (`columns` is the sorted Object.entries(def.columns), computed once per
  // collection: this runs for every row a reducer writes.)
  const normalize = (def, columns, row) => {
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      fail(`${def.name}: a row must be an object, not ${JSON.stringify(row)}`);
    }
    for (const column in row) {
      if (hasOwn.call(row, column) && !hasOwn.call(def.columns, column)) fail(`${def.name}: no column named ${JSON.stringify(column)}`);
    }
    const cells = new Array(columns.length);
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i][0];
      const type = columns[i][1];
      const value = row[column] === undefined ? null : row[column];
      const ok =
        value === null ||
        (type === "text" && typeof value === "string") ||
        (type === "integer" && Number.isSafeInteger(value)) ||
        (type === "real" && typeof value === "number" && Number.isFinite(value)) ||
        (type === "boolean" && typeof value === "boolean") ||
        type === "json";
      if (!ok) fail(`${def.name}.${column}: ${JSON.stringify(value)} is not ${type}`);
      cells[i] = type === "json" && value !== null ? (JSON.stringify(value) ?? null) : value;
      if (column === def.key) checkKey(def, value);
    }
    return cells;
  };

  const checkKey = (def, key) => {
    const type = def.columns[def.key];
    if (type === "text" ? typeof key !== "string" : !Number.isSafeInteger(key)) {
      fail(`${def.name}: the key ${def.key} must be a ${type === "text" ? "string" : "safe integer"}, not ${JSON.stringify(key)}`);
    }
  };

  // Keys go to the native functions as they are (a string or a safe integer,
  // checked), rows as their cells (see normalize).
  class Collection {
    constructor(def) {
      this.def = def;
      this.columns = Object.entries(def.columns).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.keyIndex = this.columns.findIndex(([column]) => column === def.key);
    }
    get(key) {
      checkKey(this.def, key);
      const row = native.get(this.def.name, key);
      return row == null ? undefined : JSON.parse(row);
    }
    insert(row) {
      native.insert(this.def.name, normalize(this.def, this.columns, row));
      return this;
    }
    update(key, change) {
      const before = this.get(key);
      if (before === undefined) fail(`${this.def.name}: no row with key ${JSON.stringify(key)} to update`);
      const after = normalize(this.def, this.columns, change(before));
      if (after[this.keyIndex] !== key) fail(`${this.def.name}: update may not change the key`);
      native.update(this.def.name, after);
      return this;
    }
    upsert(row) {
      native.upsert(this.def.name, normalize(this.def, this.columns, row));
      return this;
    }
    remove(key) {
      checkKey(this.def, key);
      native.remove(this.def.name, key);
      return this;
    }
  }

  const collection = (name) => {
    const found = collections[name];
    if (!found) fail(`no collection named ${JSON.stringify(name)}`);
    return found;
  };

  // Personal data is marked only on an event schema's top-level properties: anywhere
  // else the mark would be silently ignored and the data stored in the clear, so it fails.
  const misplacedPersonal = (schema, path, topLevelOk) => {
    const walk = (node, at) => {
      if (node === null || typeof node !== "object") return;
      for (const [k, v] of Object.entries(node)) {
        if (k === "x-personal") {
          fail(`${at}.x-personal: personal data is marked on a top-level property of an event schema (events.Type.schema.properties.field), where it is encrypted; here it would be ignored`);
        }
        walk(v, `${at}.${k}`);
      }
    };
    if (schema === null || typeof schema !== "object") return;
    for (const [k, v] of Object.entries(schema)) {
      if (k !== "properties" || !topLevelOk || v === null || typeof v !== "object") {
        walk({ [k]: v }, path);
        continue;
      }
      for (const [field, property] of Object.entries(v)) {
        const { "x-personal": _, ...rest } = property ?? {};
        walk(rest, `${path}.properties.${field}`);
      }
    }
  };

  // Checks the module's shape and answers what the server needs to know about it.
  globalThis.__gesta_install = (module) => {
    if (module === null || typeof module !== "object") fail("the module's default export must be an object");
    const name = module.name;
    if (typeof name !== "string" || !NAME.test(name)) fail("name: a lowercase identifier such as \"library\"");
    const described = { name, collections: {}, commands: {}, reducers: {}, upcasters: [], personal: [] };
    for (const [cname, def] of Object.entries(module.collections ?? {})) {
      if (!NAME.test(cname) || cname.startsWith("gesta")) fail(`collections.${cname}: a lowercase identifier not starting with "gesta"`);
      if (def === null || typeof def !== "object") fail(`collections.${cname}: an object with key and columns`);
      const columns = def.columns ?? {};
      for (const [column, type] of Object.entries(columns)) {
        if (!NAME.test(column)) fail(`collections.${cname}.columns.${column}: a lowercase identifier`);
        if (!TYPES.includes(type)) fail(`collections.${cname}.columns.${column}: one of ${TYPES.join(", ")}`);
      }
      if (!(def.key in columns)) fail(`collections.${cname}.key: must name one of its columns`);
      if (!["text", "integer"].includes(columns[def.key])) fail(`collections.${cname}.key: the key column must be text or integer`);
      const version = def.version ?? 1;
      if (!Number.isSafeInteger(version) || version < 1 || version > 4294967295) fail(`collections.${cname}.version: a positive integer`);
      const declared = { name: cname, key: def.key, columns: { ...columns }, version };
      collections[cname] = new Collection(declared);
      described.collections[cname] = declared;
    }
    for (const [cname, handler] of Object.entries(module.commands ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(cname)) fail(`commands.${cname}: a name of letters, digits, _ . -`);
      if (!handler || typeof handler.handle !== "function") fail(`commands.${cname}.handle: a function`);
      const schema = handler.schema ?? { type: "object" };
      if (schema === null || typeof schema !== "object") fail(`commands.${cname}.schema: a JSON Schema object`);
      described.commands[cname] = schema;
    }
    for (const [cname, reducer] of Object.entries(module.reducers ?? {})) {
      if (!(cname in collections)) fail(`reducers.${cname}: there is no collection ${cname}`);
      if (typeof reducer !== "function") fail(`reducers.${cname}: a function (collection, event) => collection`);
      described.reducers[cname] = String(reducer);
    }
    // `events: {Type: {schema}}`: the events' shapes; a top-level property marked
    // `"x-personal": true` is personal data of the event's data subject, stored encrypted.
    for (const [etype, def] of Object.entries(module.events ?? {})) {
      if (!/^.{1,200}$/s.test(etype) || etype.startsWith("gesta.")) fail(`events.${etype}: an event type of 1 to 200 characters not starting with "gesta."`);
      const schema = def?.schema;
      if (def === null || typeof def !== "object" || schema === null || typeof schema !== "object") fail(`events.${etype}: an object with a schema (a JSON Schema object)`);
      for (const [field, property] of Object.entries(schema.properties ?? {})) {
        const marked = property?.["x-personal"];
        if (marked === undefined || marked === false) continue;
        if (marked !== true) fail(`events.${etype}.schema.properties.${field}.x-personal: true or false`);
        described.personal.push({ type: etype, field });
      }
      misplacedPersonal(schema, `events.${etype}.schema`, true);
    }
    for (const [cname, handler] of Object.entries(module.commands ?? {})) {
      misplacedPersonal(handler.schema, `commands.${cname}.schema`, false);
    }
    for (const [key, upcaster] of Object.entries(module.upcasters ?? {})) {
      const match = /^(.{1,200})@([1-9][0-9]{0,8})$/.exec(key);
      if (!match) fail(`upcasters.${key}: named "EventType@N", N the version it upgrades from (1, 2, ...)`);
      if (typeof upcaster !== "function") fail(`upcasters.${key}: a function (data) => data of the next version`);
      described.upcasters.push({ type: match[1], from: Number(match[2]) });
    }
    app = module;
    return JSON.stringify(described);
  };

  // Runs command `name`'s handler; answers {"events": [...]}, {"rejected": detail}
  // (reject: 422) or {"forbidden": detail} (forbid: 403).
  // `principal` is the JSON of who is asking ({name, subject, roles}) or null.
  globalThis.__gesta_handle = (name, json, principal) => {
    const command = app.commands[name];
    const who = JSON.parse(principal);
    if (who !== null) Object.freeze(Object.freeze(who).roles);
    const context = {
      principal: who,
      get: (cname, key) => collection(cname).get(key),
      reject: (detail) => {
        throw new Rejected(detail, false);
      },
      forbid: (detail) => {
        throw new Rejected(detail, true);
      },
    };
    let events;
    try {
      events = command.handle(JSON.parse(json), context);
    } catch (err) {
      if (err instanceof Rejected) return JSON.stringify(err.forbidden ? { forbidden: err.detail } : { rejected: err.detail });
      throw err;
    }
    if (events && typeof events.then === "function") fail(`${name}.handle returned a Promise: handlers are synchronous`);
    if (!Array.isArray(events)) fail(`${name}.handle must return an array of events, not ${JSON.stringify(events)}`);
    return JSON.stringify({ events });
  };

  // Applies one event to collection `name` through its reducer.
  // Brings one event's data from version `from` of `type` to the next; answers the
  // new data as JSON. Upcasters are pure: they see only the data.
  globalThis.__gesta_upcast = (type, from, json) => {
    const out = app.upcasters[`${type}@${from}`](JSON.parse(json));
    if (out && typeof out.then === "function") fail(`upcasters.${type}@${from} returned a Promise: upcasters are synchronous`);
    const text = JSON.stringify(out === undefined ? null : out);
    return text;
  };

  globalThis.__gesta_reduce = (name, json) => {
    const target = collection(name);
    const out = app.reducers[name](target, JSON.parse(json));
    if (out !== target) fail(`reducer ${name} must return the collection (got ${out === undefined ? "undefined" : typeof out})`);
  };
})();
