// The policy as plain code: exact money, the approval ladder, the decision and the reminders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, evaluate, remind, toScaled, formatScaled, roundDiv } from './policy.js';
import { StepFailure } from './alur-step.js';

const policy = parsePolicy();

// 10 licences at `licence` each (list 1200.00) and one support pack at `support` (list 2000.00): list 14000.00.
function quote(licence, support = 2000, extra = {}) {
  return {
    id: 'Q-1001',
    currency: 'EUR',
    lines: [
      { sku: 'LIC-PRO', quantity: 10, list_price: 1200, unit_price: licence },
      { sku: 'SUPPORT', quantity: 1, list_price: 2000, unit_price: support },
    ],
    ...extra,
  };
}

function failure(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StepFailure, `expected a StepFailure, got ${e}`);
    return { kind: e.kind, code: e.code, message: e.message };
  }
  assert.fail('expected a step failure');
}

test('a small discount needs no approval and is approved at once', () => {
  const out = evaluate({ quote: quote(1100) }, policy);
  assert.deepEqual(out.totals, {
    list: '14000.00',
    net: '13000.00',
    discount: '1000.00',
    quote_discount: '0.00',
    discount_pct: 7.14,
    list_minor: 1400000,
    net_minor: 1300000,
    discount_minor: 100000,
  });
  assert.deepEqual(out.needed_levels, []);
  assert.equal(out.decision, 'approved');
  assert.equal(out.next_role, null);
  assert.deepEqual(out.lines[0], { sku: 'LIC-PRO', list: '12000.00', net: '11000.00', discount_pct: 8.33 });
});

test('the needed levels climb the ladder with the discount', () => {
  const cases = [
    [960, [], 17.14, [1]],
    [800, [], 28.57, [1, 2]],
    [700, 1000, 42.86, [1, 2, 3]],
  ];
  for (const [licence, , pct, levels] of cases) {
    const support = licence === 700 ? 1000 : 2000;
    const out = evaluate({ quote: quote(licence, support) }, policy);
    assert.equal(out.totals.discount_pct, pct);
    assert.deepEqual(out.needed_levels.map((l) => l.level), levels);
    assert.equal(out.decision, 'pending');
    assert.equal(out.next_level, 1);
    assert.equal(out.next_role, 'manager');
  }
  const three = evaluate({ quote: quote(700, 1000) }, policy);
  assert.deepEqual(three.needed_levels, [
    { level: 1, role: 'manager', above_pct: 15 },
    { level: 2, role: 'director', above_pct: 25 },
    { level: 3, role: 'vp', above_pct: 40 },
  ]);
});

test('a threshold is "strictly above", compared exactly', () => {
  const at = (unit) => ({ id: 'Q', currency: 'EUR', lines: [{ sku: 'A', quantity: 3, list_price: '33.33', unit_price: unit }] });
  // 99.99 list; 84.99 net is 15.0015% off, 85.02 net is 14.97% off.
  assert.deepEqual(evaluate({ quote: at('28.33') }, policy).needed_levels.map((l) => l.level), [1]);
  assert.deepEqual(evaluate({ quote: at('28.34') }, policy).needed_levels, []);
  // Exactly 15.00% off needs nobody; exactly 60% is still allowed.
  const exact = (net) => ({ id: 'Q', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, list_price: 100, unit_price: net }] });
  assert.deepEqual(evaluate({ quote: exact(85) }, policy).needed_levels, []);
  assert.equal(evaluate({ quote: exact(40) }, policy).needed_levels.length, 3);
});

test('totals are exact where floats drift', () => {
  const q = {
    id: 'Q-drift',
    currency: 'EUR',
    lines: [
      { sku: 'A', quantity: 3, list_price: 1.15, unit_price: 1.1 },
      { sku: 'B', quantity: 1, list_price: 0.1, unit_price: 0.1 },
      { sku: 'C', quantity: 1, list_price: 0.2, unit_price: 0.2 },
    ],
  };
  // What float arithmetic says about these lines.
  assert.notEqual(1.15 * 3, 3.45);
  assert.notEqual(1.1 * 3, 3.3);
  const out = evaluate({ quote: q }, policy);
  assert.deepEqual([out.totals.list, out.totals.net, out.totals.discount], ['3.75', '3.60', '0.15']);
  assert.deepEqual([out.totals.list_minor, out.totals.net_minor], [375, 360]);
  assert.equal(out.totals.discount_pct, 4);
});

test('a quote-level discount comes off the net, rounded half up once', () => {
  const out = evaluate({ quote: quote(1200, 2000, { requested_discount_pct: 12.5 }) }, policy);
  assert.equal(out.totals.quote_discount, '1750.00');
  assert.equal(out.totals.net, '12250.00');
  assert.equal(out.totals.discount_pct, 12.5);
  const tiny = { id: 'Q', currency: 'EUR', requested_discount_pct: 50, lines: [{ sku: 'A', quantity: 1, list_price: 0.99, unit_price: 0.99 }] };
  assert.equal(evaluate({ quote: tiny }, policy).totals.quote_discount, '0.50');
  assert.equal(evaluate({ quote: tiny }, policy).totals.net, '0.49');
});

test('currencies keep their own minor units', () => {
  const jpy = { id: 'Q', currency: 'JPY', lines: [{ sku: 'A', quantity: 2, list_price: 15000, unit_price: 12000 }] };
  const out = evaluate({ quote: jpy }, policy);
  assert.deepEqual([out.totals.list, out.totals.net, out.totals.list_minor], ['30000', '24000', 30000]);
  jpy.lines[0].unit_price = 12000.5;
  assert.equal(failure(() => evaluate({ quote: jpy }, policy)).code, 'invalid-amount');
  const kwd = { id: 'Q', currency: 'KWD', lines: [{ sku: 'A', quantity: 1, list_price: '1.250', unit_price: '1.125' }] };
  assert.deepEqual([evaluate({ quote: kwd }, policy).totals.net, evaluate({ quote: kwd }, policy).totals.discount_pct], ['1.125', 10]);
});

test('a discount above the maximum is a business error nobody can approve', () => {
  const e = failure(() => evaluate({ quote: quote(500, 0), approvals: [] }, policy));
  assert.equal(e.kind, 'business');
  assert.equal(e.code, 'discount-over-limit');
  assert.match(e.message, /64\.29% is above the 60\.00%/);
});

test('approvals move the quote up the ladder; all needed levels approve it', () => {
  const q = quote(800);
  const step1 = evaluate({ quote: q, approvals: [{ level: 1, approver: 'ana', decision: 'approved' }] }, policy);
  assert.deepEqual([step1.decision, step1.next_level, step1.next_role, step1.approved_levels], ['pending', 2, 'director', [1]]);
  const done = evaluate(
    {
      quote: q,
      approvals: [
        { level: 1, approver: 'ana', decision: 'approved' },
        { level: 2, approver: 'bo', decision: 'approved' },
      ],
    },
    policy,
  );
  assert.deepEqual([done.decision, done.next_level, done.rejected_by], ['approved', null, null]);
  // An approval only covers its own level: the director alone leaves the manager to ask.
  const skip = evaluate({ quote: q, approvals: [{ level: 2, approver: 'bo', decision: 'approved' }] }, policy);
  assert.deepEqual([skip.decision, skip.next_role], ['pending', 'manager']);
});

test('any rejection rejects the quote', () => {
  const out = evaluate(
    {
      quote: quote(800),
      approvals: [
        { level: 1, approver: 'ana', decision: 'approved' },
        { level: 2, approver: 'bo', decision: 'rejected' },
      ],
    },
    policy,
  );
  assert.equal(out.decision, 'rejected');
  assert.deepEqual(out.rejected_by, { level: 2, approver: 'bo' });
  assert.equal(out.next_role, null);
});

test('bad quotes are invalid-input with the offending field named', () => {
  const cases = [
    [{}, 'missing-quote', /quote/],
    [{ quote: { ...quote(900), id: '' } }, 'invalid-quote', /quote\.id/],
    [{ quote: { ...quote(900), currency: 'euro' } }, 'invalid-currency', /ISO 4217/],
    [{ quote: { ...quote(900), lines: [] } }, 'no-lines', /non-empty/],
    [{ quote: { ...quote(900), lines: [{ sku: 'A', quantity: 0, list_price: 1, unit_price: 1 }] } }, 'invalid-quantity', /lines\[0\]\.quantity/],
    [{ quote: { ...quote(900), lines: [{ sku: 'A', quantity: 1.5, list_price: 1, unit_price: 1 }] } }, 'invalid-quantity', /whole number/],
    [{ quote: { ...quote(900), lines: [{ sku: 'A', quantity: 1, list_price: -1, unit_price: 1 }] } }, 'invalid-amount', /list_price/],
    [{ quote: { ...quote(900), lines: [{ sku: 'A', quantity: 1, list_price: 1, unit_price: '1.999' }] } }, 'invalid-amount', /at most 2 decimals/],
    [{ quote: { ...quote(900), lines: [{ sku: 'A', quantity: 1, list_price: 0, unit_price: 0 }] } }, 'zero-list-total', /list value/],
    [{ quote: { ...quote(900), requested_discount_pct: 101 } }, 'invalid-discount', /0 to 100/],
    [{ quote: quote(900), approvals: {} }, 'invalid-approval', /list/],
    [{ quote: quote(900), approvals: [{ level: 4, approver: 'x', decision: 'approved' }] }, 'invalid-approval', /1 to 3/],
    [{ quote: quote(900), approvals: [{ level: 1, approver: '', decision: 'approved' }] }, 'invalid-approval', /approver/],
    [{ quote: quote(900), approvals: [{ level: 1, approver: 'x', decision: 'maybe' }] }, 'invalid-approval', /"maybe"/],
  ];
  for (const [input, code, message] of cases) {
    const e = failure(() => evaluate(input, policy));
    assert.equal(e.kind, 'invalid-input', JSON.stringify(input));
    assert.equal(e.code, code, JSON.stringify(input));
    assert.match(e.message, message);
  }
});

test('the ladder comes from config; a bad config is the definition\'s fault', () => {
  const custom = parsePolicy({ levels: '10, 20.5', roles: 'lead,head', maxDiscount: '30' });
  const out = evaluate({ quote: quote(960) }, custom); // 17.14%
  assert.deepEqual(out.needed_levels, [{ level: 1, role: 'lead', above_pct: 10 }]);
  for (const [cfg, key] of [
    [{ levels: '15,x,40' }, 'levels'],
    [{ levels: '25,15,40' }, 'levels'],
    [{ levels: '15,25,140' }, 'levels'],
    [{ roles: 'manager,director' }, 'roles'],
    [{ maxDiscount: '35' }, 'max_discount'],
    [{ maxDiscount: 'sixty' }, 'max_discount'],
  ]) {
    const e = failure(() => parsePolicy(cfg));
    assert.equal(e.kind, 'internal');
    assert.equal(e.code, 'invalid-config');
    assert.match(e.message, new RegExp(`config \`${key}\``));
  }
});

test('reminders name the pending approver and expire the quote after the last one', () => {
  const input = { quote: quote(800), approvals: [{ level: 1, approver: 'ana', decision: 'approved' }], reminders_sent: 1 };
  const out = remind(input, policy, 3);
  assert.deepEqual([out.remind_level, out.remind_role, out.reminder], [2, 'director', 2]);
  assert.equal(out.message, "Reminder 2 of 3: quote Q-1001 (10000.00 EUR net, 28.57% off list) waits for the director's decision");
  const expired = failure(() => remind({ ...input, reminders_sent: 3 }, policy, 3));
  assert.deepEqual([expired.kind, expired.code], ['business', 'approval-expired']);
  assert.equal(failure(() => remind({ quote: quote(1100) }, policy, 3)).code, 'nothing-pending');
  assert.equal(failure(() => remind({ ...input, reminders_sent: -1 }, policy, 3)).code, 'invalid-reminders');
});

test('exact decimal helpers', () => {
  assert.equal(toScaled('12.50', 2), 1250n);
  assert.equal(toScaled(0.1, 2), 10n);
  assert.equal(toScaled('1.234', 2), null);
  assert.equal(toScaled('1e3', 2), null);
  assert.equal(toScaled(-1, 2), null);
  assert.equal(formatScaled(5n, 2), '0.05');
  assert.equal(formatScaled(-12345n, 3), '-12.345');
  assert.equal(formatScaled(7n, 0), '7');
  assert.deepEqual([roundDiv(5n, 2n), roundDiv(-5n, 2n), roundDiv(4n, 3n)], [3n, -3n, 1n]);
});
