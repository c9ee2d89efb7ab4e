// The helper's contract, natively: what a step function's return values and exceptions become, and the host
// wrappers over the fake host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  step,
  log,
  config,
  kv,
  StepFailure,
  InvalidInput,
  Business,
  Transient,
  Internal,
  isStepFailure,
  toStepError,
  installHost,
} from './alur-step.js';
import { FakeHost, invoke } from './alur-step-testing.js';

const echo = step((ctx, input) => ({ ctx, input }));

test('decodes the input, passes the context and encodes the output', () => {
  const { output } = invoke(echo, { a: [1, 'x'] }, { ctx: { stepId: 'score', attempt: 2 } });
  assert.deepEqual(output.input, { a: [1, 'x'] });
  assert.equal(output.ctx.stepId, 'score');
  assert.equal(output.ctx.attempt, 2);
  assert.equal(output.ctx.processVersion, 1);
});

test('input that is not JSON is invalid-input', () => {
  const { error } = invoke(echo, '{nope');
  assert.equal(error.kind, 'invalid-input');
  assert.equal(error.code, 'invalid-json');
});

test('each failure class becomes its kind with its code and message', () => {
  const cases = [
    [new InvalidInput('bad-email', 'no @'), 'invalid-input'],
    [new Business('credit-limit', 'over'), 'business'],
    [new Transient('busy', 'later'), 'transient'],
    [new Internal('bug', 'oops'), 'internal'],
    [new StepFailure('business', 'direct', 'by kind'), 'business'],
  ];
  for (const [failure, kind] of cases) {
    const { error } = invoke(step(() => { throw failure; }), {});
    assert.deepEqual(error, { kind, code: failure.code, message: failure.message });
  }
  assert.throws(() => new StepFailure('fatal', 'x', 'y'), /unknown step error kind/);
});

test('any other exception is internal, never a trap, and its stack is logged', () => {
  const { error, host } = invoke(step((ctx, input) => input.missing.field), {});
  assert.equal(error.kind, 'internal');
  assert.equal(error.code, 'uncaught-exception');
  assert.match(error.message, /^TypeError: /);
  assert.equal(host.messages('error').length, 1);
  assert.match(host.messages('error')[0], /uncaught TypeError/);

  const thrownString = invoke(step(() => { throw 'plain text'; }), {});
  assert.deepEqual(thrownString.error, { kind: 'internal', code: 'uncaught-exception', message: 'string: "plain text"' });
});

test('a failure from another copy of the helper is still recognized by its brand', () => {
  const foreign = new Error('from elsewhere');
  foreign[Symbol.for('alur.step-failure')] = true;
  foreign.kind = 'business';
  foreign.code = 'foreign';
  assert.ok(isStepFailure(foreign));
  assert.deepEqual(toStepError(foreign), { kind: 'business', code: 'foreign', message: 'from elsewhere' });
});

test('outputs that JSON cannot carry are internal errors; undefined is null', () => {
  assert.equal(invoke(step(() => undefined), {}).output, null);
  assert.equal(invoke(step(() => 10n), {}).error.code, 'output-encoding');
  assert.equal(invoke(step(() => () => 1), {}).error.code, 'output-encoding');
  assert.equal(invoke(step(async () => 1), {}).error.code, 'async-step');
});

test('long messages are clipped', () => {
  const { error } = invoke(step(() => { throw new Business('long', 'x'.repeat(10_000)); }), {});
  assert.ok(error.message.length < 4200);
});

test('config reads strings, numbers, booleans, lists and JSON, with defaults', () => {
  const host = new FakeHost({
    config: { name: 'acme', limit: ' 12.5 ', n: '3', on: 'yes', roles: 'a, b,,c', table: '{"x":1}' },
  });
  const previous = installHost(host);
  try {
    assert.equal(config.get('name'), 'acme');
    assert.equal(config.get('absent', 'dflt'), 'dflt');
    assert.equal(config.get('absent'), undefined);
    assert.equal(config.number('limit'), 12.5);
    assert.equal(config.number('absent', 7), 7);
    assert.equal(config.int('n'), 3);
    assert.equal(config.bool('on'), true);
    assert.deepEqual(config.list('roles'), ['a', 'b', 'c']);
    assert.deepEqual(config.json('table'), { x: 1 });
    assert.deepEqual(config.json('absent', []), []);
  } finally {
    installHost(previous);
  }
});

test('a config value that does not parse is an internal invalid-config error naming the key', () => {
  for (const [key, read] of [
    ['limit', () => config.number('limit')],
    ['limit', () => config.int('limit')],
    ['limit', () => config.bool('limit')],
    ['limit', () => config.json('limit')],
  ]) {
    const { error } = invoke(step(read), {}, { config: { limit: 'lots' } });
    assert.equal(error.kind, 'internal');
    assert.equal(error.code, 'invalid-config');
    assert.match(error.message, new RegExp(key));
  }
  assert.equal(invoke(step(() => config.int('n')), {}, { config: { n: '1.5' } }).error.code, 'invalid-config');
});

test('kv stores bytes, text and JSON, and deletes', () => {
  const counter = step(() => {
    const n = kv.getJson('count', 0) + 1;
    kv.setJson('count', n);
    kv.set('raw', new Uint8Array([1, 2, 3]));
    kv.set('text', 'héllo');
    kv.delete('gone');
    return { n, raw: [...kv.get('raw')], text: kv.getText('text'), gone: kv.get('gone') ?? null };
  });
  const { output, host } = invoke(counter, {}, { kv: { count: 41, gone: true } });
  assert.deepEqual(output, { n: 42, raw: [1, 2, 3], text: 'héllo', gone: null });
  assert.equal(host.kvJson('count'), 42);
  assert.equal(host.kvGet('gone'), undefined);
  assert.throws(() => kv.set('x', { a: 1 }), /Uint8Array or a string/);
});

test('kv holding something that is not JSON is an invalid-state error', () => {
  const bad = new FakeHost();
  bad.kvSet('count', new TextEncoder().encode('not json'));
  const { error } = invoke(step(() => kv.getJson('count')), {}, { host: bad });
  assert.equal(error.code, 'invalid-state');
});

test('log joins its parts and keeps the level', () => {
  const { host } = invoke(step(() => { log.info('lead', { id: 7 }, 3); log.at('warn', 'w'); return null; }), {});
  assert.deepEqual(host.logs, [
    { level: 'info', message: 'lead {"id":7} 3' },
    { level: 'warn', message: 'w' },
  ]);
  assert.throws(() => log.at('fatal', 'x'), /unknown log level/);
});

test('without a host, host calls fail as internal no-host instead of crashing', () => {
  const previous = installHost(null);
  try {
    let thrown;
    try {
      step(() => config.get('x'))({}, '{}');
    } catch (e) {
      thrown = e;
    }
    assert.equal(thrown.payload.kind, 'internal');
    assert.equal(thrown.payload.code, 'no-host');
  } finally {
    installHost(previous);
  }
});

test('the fake host refuses shapes the component could not lower', () => {
  const host = new FakeHost();
  assert.throws(() => host.kvSet('k', [1, 2]), /Uint8Array/);
  assert.throws(() => host.log('fatal', 'x'), /WIT level/);
  assert.throws(() => new FakeHost({ config: { n: 3 } }), /must be a string/);
});
