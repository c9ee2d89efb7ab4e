// The step as the runtime calls it (JSON text in and out), over the SDK's fake host: config, logs, error kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { invoke } from './alur-step-testing.js';
import { run } from './app.js';

const quote = {
  id: 'Q-7',
  currency: 'USD',
  lines: [{ sku: 'SEAT', quantity: 20, list_price: '49.90', unit_price: '36.00' }],
};

test('evaluates a quote and logs the verdict', () => {
  const { output, host } = invoke(run, { quote });
  assert.equal(output.totals.list, '998.00');
  assert.equal(output.totals.net, '720.00');
  assert.equal(output.totals.discount_pct, 27.86);
  assert.deepEqual(output.needed_levels.map((l) => l.role), ['manager', 'director']);
  assert.equal(output.decision, 'pending');
  assert.deepEqual(host.messages('info'), ['quote Q-7: 27.86% off, needs 2 level(s), pending, next: manager']);
});

test('the ladder and the limit come from the step config', () => {
  const { output } = invoke(run, { quote }, { config: { levels: '30', roles: 'cfo', max_discount: '50' } });
  assert.deepEqual(output.needed_levels, []);
  assert.equal(output.decision, 'approved');
  const { error } = invoke(run, { quote }, { config: { max_discount: '25', levels: '10,20', roles: 'a,b' } });
  assert.deepEqual([error.kind, error.code], ['business', 'discount-over-limit']);
});

test('remind mode counts reminders against max_reminders', () => {
  const input = { quote, approvals: [{ level: 1, approver: 'ana', decision: 'approved' }], reminders_sent: 0 };
  const { output, host } = invoke(run, input, { config: { mode: 'remind', max_reminders: '1' } });
  assert.deepEqual([output.remind_role, output.reminder, output.max_reminders], ['director', 1, 1]);
  assert.match(host.messages('info')[0], /^Reminder 1 of 1: quote Q-7/);
  const { error } = invoke(run, { ...input, reminders_sent: 1 }, { config: { mode: 'remind', max_reminders: '1' } });
  assert.deepEqual([error.kind, error.code], ['business', 'approval-expired']);
});

test('input errors are invalid-input; config errors are internal', () => {
  assert.deepEqual(invoke(run, { quote: { ...quote, lines: 'many' } }).error.code, 'no-lines');
  assert.equal(invoke(run, '[1, 2').error.code, 'invalid-json');
  assert.equal(invoke(run, [1, 2]).error.kind, 'invalid-input');
  const cfg = invoke(run, { quote }, { config: { mode: 'approve' } }).error;
  assert.deepEqual([cfg.kind, cfg.code], ['internal', 'invalid-config']);
  const reminders = invoke(run, { quote }, { config: { mode: 'remind', max_reminders: 'three' } }).error;
  assert.deepEqual([reminders.kind, reminders.code], ['internal', 'invalid-config']);
});
