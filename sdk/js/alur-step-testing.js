// Native tests of Alur JS steps under plain Node (`node --test`): a fake of the `alur:step/host` import, and
// `invoke`, which calls a step the way the runtime does (JSON text in, JSON text or a step-error out).
//
//   import { invoke } from './alur-step-testing.js';
//   import { run } from './app.js';
//   const { output, error, host } = invoke(run, { lead: {...} }, { config: { threshold: '60' } });

import { installHost } from './alur-step.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const KINDS = ['invalid-input', 'business', 'transient', 'internal'];

/**
 * An in-memory host with the same function names and value shapes as the component's `alur:step/host` import:
 * `config` returns a string or `undefined`, `kvGet` a `Uint8Array` or `undefined`, `kvSet` accepts only a
 * `Uint8Array`, and `log` only the five WIT levels, so that a step that passes its native tests does not trap in
 * the component over a shape the fake let through.
 */
export class FakeHost {
  constructor({ config = {}, kv = {} } = {}) {
    this.settings = new Map();
    for (const [k, v] of Object.entries(config)) {
      if (typeof v !== 'string') throw new TypeError(`config value of ${k} must be a string, as in a definition`);
      this.settings.set(k, v);
    }
    this.store = new Map();
    for (const [k, v] of Object.entries(kv)) {
      this.store.set(k, v instanceof Uint8Array ? new Uint8Array(v) : new TextEncoder().encode(JSON.stringify(v)));
    }
    /** Every log line as `{level, message}`, in order. */
    this.logs = [];
    // The import is a namespace of plain functions: bind them so that `installHost(fake)` can call them unbound.
    for (const name of ['log', 'config', 'kvGet', 'kvSet', 'kvDelete']) this[name] = this[name].bind(this);
  }

  log(level, message) {
    if (!LEVELS.includes(level)) throw new TypeError(`log level ${JSON.stringify(level)} is not a WIT level`);
    if (typeof message !== 'string') throw new TypeError('a log message must be a string');
    this.logs.push({ level, message });
  }

  config(key) {
    if (typeof key !== 'string') throw new TypeError('a config key must be a string');
    return this.settings.get(key);
  }

  kvGet(key) {
    if (typeof key !== 'string') throw new TypeError('a kv key must be a string');
    const v = this.store.get(key);
    return v === undefined ? undefined : new Uint8Array(v);
  }

  kvSet(key, value) {
    if (typeof key !== 'string') throw new TypeError('a kv key must be a string');
    if (!(value instanceof Uint8Array)) throw new TypeError('a kv value must be a Uint8Array (list<u8>)');
    this.store.set(key, new Uint8Array(value));
  }

  kvDelete(key) {
    if (typeof key !== 'string') throw new TypeError('a kv key must be a string');
    this.store.delete(key);
  }

  /** The JSON value stored under `key`, decoded, or `undefined`. */
  kvJson(key) {
    const v = this.store.get(key);
    return v === undefined ? undefined : JSON.parse(new TextDecoder().decode(v));
  }

  /** The messages logged at `level`. */
  messages(level) {
    return this.logs.filter((l) => l.level === level).map((l) => l.message);
  }
}

/** A step context such as the runtime passes, with `overrides` applied. */
export function testContext(overrides = {}) {
  return {
    tenant: 'test',
    process: 'test',
    processVersion: 1,
    instanceId: 'test-instance',
    stepId: 'test-step',
    attempt: 1,
    ...overrides,
  };
}

/**
 * Calls `run` (a function made by `step()`) like the runtime: `input` is encoded to JSON text (a string is sent
 * as is), the output text is decoded. Returns `{output}` or `{error: {kind, code, message}}`, and the `host` used
 * (a `FakeHost` built from `config` and `kv` unless one is given) for inspecting logs and kv.
 *
 * Anything `run` throws that the component could not lower into a step-error is rethrown: in the component it
 * would be a trap.
 */
export function invoke(run, input, { config, kv, host, ctx } = {}) {
  const fake = host ?? new FakeHost({ config, kv });
  const previous = installHost(fake);
  try {
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    let out;
    try {
      out = run(testContext(ctx), text);
    } catch (thrown) {
      const payload = thrown !== null && typeof thrown === 'object' && Object.hasOwn(thrown, 'payload') ? thrown.payload : thrown;
      if (
        payload === null ||
        typeof payload !== 'object' ||
        !KINDS.includes(payload.kind) ||
        typeof payload.code !== 'string' ||
        typeof payload.message !== 'string'
      ) {
        throw thrown;
      }
      return { error: { kind: payload.kind, code: payload.code, message: payload.message }, host: fake };
    }
    if (typeof out !== 'string') throw new TypeError(`run returned ${typeof out}, not JSON text: it would trap`);
    return { output: JSON.parse(out), host: fake };
  } finally {
    installHost(previous);
  }
}
