// Alur step plugins in JavaScript: the helper every plugin imports.
//
// A plugin module exports its step as `run`:
//
//   import { step, InvalidInput, config, log } from './alur-step.js';
//   export const run = step((ctx, input) => {
//     if (typeof input.total !== 'number') throw new InvalidInput('missing-total', '`total` must be a number');
//     return { approved: input.total <= config.number('limit', 10000) };
//   });
//
// This module never imports `alur:step/host` itself: that import only exists inside the component, so a module
// that named it could not be loaded by plain Node. The component's entry (`alur-entry.js`) imports the host
// and hands it over with `installHost`; native tests hand over a fake (`alur-step-testing.js`) the same way.
// Host calls therefore work inside `run` only, never at module top level (the top level runs once, at build time,
// when the component is pre-initialized, and no host is there).

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const KINDS = ['invalid-input', 'business', 'transient', 'internal'];

/** The four kinds of error a step returns on purpose (the WIT `error-kind` enum). */
export const ErrorKind = Object.freeze({
  InvalidInput: 'invalid-input',
  Business: 'business',
  Transient: 'transient',
  Internal: 'internal',
});

// A brand rather than only `instanceof`, so that a failure thrown by a second copy of this module (a bundled
// dependency carrying its own) is still recognized as deliberate.
const BRAND = Symbol.for('alur.step-failure');

// Long messages are cut so that a step that puts a whole payload into its error cannot bloat the journal.
const MAX_MESSAGE = 4096;

/**
 * An error a step returns on purpose: a kind from `ErrorKind`, a stable machine-readable code that process
 * definitions route on (`on-error`), and a message for people.
 */
export class StepFailure extends Error {
  constructor(kind, code, message) {
    super(String(message ?? ''));
    if (!KINDS.includes(kind)) {
      throw new TypeError(`unknown step error kind ${JSON.stringify(kind)} (expected one of ${KINDS.join(', ')})`);
    }
    this.name = 'StepFailure';
    this.kind = kind;
    this.code = String(code);
    this[BRAND] = true;
  }
}

/** The input does not fit what the step expects; retrying will not help. */
export class InvalidInput extends StepFailure {
  constructor(code, message) {
    super('invalid-input', code, message);
    this.name = 'InvalidInput';
  }
}

/** A business rule said no; the definition's `on-error` may route it. */
export class Business extends StepFailure {
  constructor(code, message) {
    super('business', code, message);
    this.name = 'Business';
  }
}

/** A passing failure (a remote system busy); the step's retry policy retries it. */
export class Transient extends StepFailure {
  constructor(code, message) {
    super('transient', code, message);
    this.name = 'Transient';
  }
}

/** A bug or an unexpected state inside the step. */
export class Internal extends StepFailure {
  constructor(code, message) {
    super('internal', code, message);
    this.name = 'Internal';
  }
}

/** Whether `e` is a deliberate step failure (from this or any other copy of this module). */
export function isStepFailure(e) {
  return e !== null && typeof e === 'object' && e[BRAND] === true;
}

let host = null;

/**
 * Hands the host's functions (`log`, `config`, `kvGet`, `kvSet`, `kvDelete`, as the `alur:step/host` import
 * names them) to the helper. Called once by the component entry, or by a test with a fake. Returns the host that
 * was installed before, so that a test can put it back.
 */
export function installHost(h) {
  const previous = host;
  host = h ?? null;
  return previous;
}

function theHost() {
  if (host === null) {
    throw new Internal(
      'no-host',
      'the alur:step host is not available: host calls work only inside run() (in tests, install a FakeHost)',
    );
  }
  return host;
}

function write(level, parts) {
  const message = parts.map((p) => (typeof p === 'string' ? p : safeJson(p))).join(' ');
  theHost().log(level, message);
}

function safeJson(v) {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}

/** Lines in the runtime's log, tagged by the host with tenant, process, instance and step. */
export const log = Object.freeze({
  trace: (...parts) => write('trace', parts),
  debug: (...parts) => write('debug', parts),
  info: (...parts) => write('info', parts),
  warn: (...parts) => write('warn', parts),
  error: (...parts) => write('error', parts),
  /** A line at a level named by a string (`'info'`, ...). */
  at(level, ...parts) {
    if (!LEVELS.includes(level)) throw new TypeError(`unknown log level ${JSON.stringify(level)}`);
    write(level, parts);
  },
});

// A config value that does not parse is the definition's fault, not the input's: an internal error that names the
// key, as the Rust SDK does.
function badConfig(key, raw, expected) {
  return new Internal('invalid-config', `config key \`${key}\` = ${JSON.stringify(raw)} is not ${expected}`);
}

/** The step's `config:` block from the process definition; every value arrives as a string. */
export const config = Object.freeze({
  /** The raw string, or `dflt` when the definition does not set the key. */
  get(key, dflt = undefined) {
    const v = theHost().config(String(key));
    return v === undefined || v === null ? dflt : v;
  },
  /** A finite number (decimal text such as `"12.5"`), or `dflt`. */
  number(key, dflt = undefined) {
    const raw = config.get(key);
    if (raw === undefined) return dflt;
    const text = raw.trim();
    const n = Number(text);
    if (text === '' || !Number.isFinite(n)) throw badConfig(key, raw, 'a number');
    return n;
  },
  /** A whole number, or `dflt`. */
  int(key, dflt = undefined) {
    const n = config.number(key);
    if (n === undefined) return dflt;
    if (!Number.isSafeInteger(n)) throw badConfig(key, config.get(key), 'a whole number');
    return n;
  },
  /** `true`/`false` (also `yes`/`no`, `1`/`0`), or `dflt`. */
  bool(key, dflt = undefined) {
    const raw = config.get(key);
    if (raw === undefined) return dflt;
    const text = raw.trim().toLowerCase();
    if (['true', 'yes', '1'].includes(text)) return true;
    if (['false', 'no', '0'].includes(text)) return false;
    throw badConfig(key, raw, 'true or false');
  },
  /** A comma-separated list of trimmed, non-empty items, or `dflt`. */
  list(key, dflt = undefined) {
    const raw = config.get(key);
    if (raw === undefined) return dflt;
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  },
  /** A value holding JSON (tables such as weights or price lists), decoded, or `dflt`. */
  json(key, dflt = undefined) {
    const raw = config.get(key);
    if (raw === undefined) return dflt;
    try {
      return JSON.parse(raw);
    } catch (e) {
      throw badConfig(key, raw, `JSON (${e.message})`);
    }
  },
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * State scoped to (tenant, plugin name). A step's writes become visible to other steps only once the engine has
 * committed the step's completion, so a failed or retried attempt leaves no trace.
 */
export const kv = Object.freeze({
  /** The bytes under `key` (a `Uint8Array`), or `undefined`. */
  get(key) {
    const v = theHost().kvGet(String(key));
    return v === undefined || v === null ? undefined : v;
  },
  /** Stores bytes (a `Uint8Array`) or a string (as UTF-8) under `key`. */
  set(key, value) {
    let bytes;
    if (value instanceof Uint8Array) bytes = value;
    else if (typeof value === 'string') bytes = encoder.encode(value);
    else throw new TypeError('kv.set takes a Uint8Array or a string; use kv.setJson for other values');
    theHost().kvSet(String(key), bytes);
  },
  /** Removes `key`. */
  delete(key) {
    theHost().kvDelete(String(key));
  },
  /** The UTF-8 text under `key`, or `dflt`. */
  getText(key, dflt = undefined) {
    const bytes = kv.get(key);
    return bytes === undefined ? dflt : decoder.decode(bytes);
  },
  /** The JSON value under `key`, decoded, or `dflt`; a value that is not JSON is an `invalid-state` error. */
  getJson(key, dflt = undefined) {
    const text = kv.getText(key);
    if (text === undefined) return dflt;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Internal('invalid-state', `kv key \`${key}\` does not hold JSON: ${e.message}`);
    }
  },
  /** Stores `value` as JSON under `key`. */
  setJson(key, value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new Internal('invalid-state', `kv value for \`${key}\` cannot be encoded as JSON`);
    kv.set(key, text);
  },
});

/** The `step-error` record the component returns for any exception `e`. */
export function toStepError(e) {
  if (isStepFailure(e) && KINDS.includes(e.kind)) {
    return { kind: e.kind, code: String(e.code), message: clip(String(e.message)) };
  }
  // Anything else is a bug in the step: report it as `internal`, with the stack in the log for whoever debugs it.
  const name = e instanceof Error ? e.name : typeof e;
  const text = e instanceof Error ? e.message : safeJson(e);
  if (host !== null) {
    try {
      host.log('error', `uncaught ${e instanceof Error && e.stack ? `${name}: ${text}\n${e.stack}` : `${name}: ${text}`}`);
    } catch {
      // The log line is a courtesy; the error record below is what the engine needs.
    }
  }
  return { kind: 'internal', code: 'uncaught-exception', message: clip(`${name}: ${text}`) };
}

function clip(s) {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}...` : s;
}

/**
 * Wraps `handler(ctx, input) => output` into the world's `run(ctx, input: string) -> result<string, step-error>`:
 * the input JSON is decoded before the handler sees it and its return value is encoded; a thrown `StepFailure`
 * becomes that step-error, and any other exception an `internal` one (never a trap).
 *
 * `ctx` is `{tenant, process, processVersion, instanceId, stepId, attempt}`.
 */
export function step(handler) {
  if (typeof handler !== 'function') throw new TypeError('step() takes the step function');
  return function run(ctx, input) {
    try {
      return runJson(handler, ctx, input);
    } catch (e) {
      // componentize-js lowers an exception that carries an own `payload` into the `err` case of the result.
      throw { payload: toStepError(e) };
    }
  };
}

function runJson(handler, ctx, input) {
  let value;
  try {
    value = JSON.parse(input);
  } catch (e) {
    throw new InvalidInput('invalid-json', `the step input is not JSON: ${e.message}`);
  }
  const output = handler(Object.freeze({ ...ctx }), value);
  if (output !== null && typeof output === 'object' && typeof output.then === 'function') {
    // A Promise would be encoded as `{}`: refuse it loudly instead.
    throw new Internal('async-step', 'the step returned a Promise; step functions must return their output directly');
  }
  let text;
  try {
    text = JSON.stringify(output === undefined ? null : output);
  } catch (e) {
    throw new Internal('output-encoding', `the step output cannot be encoded as JSON: ${e.message}`);
  }
  if (text === undefined) {
    throw new Internal('output-encoding', `the step output cannot be encoded as JSON (it is a ${typeof output})`);
  }
  return text;
}
