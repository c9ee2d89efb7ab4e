// The discount and approval policy of a sales quote, free of any host call so that it is tested as plain code.
//
// Money never touches a float: every amount is parsed from its decimal text into integer minor units (cents for
// EUR, yen for JPY, fils for KWD) held as BigInt, summed and compared exactly, and formatted back as decimal
// text. Percentages are basis points (1/100 of a percent) and thresholds are compared as exact fractions
// (discount * 10000 > threshold_bp * list), so a quote at exactly 15.00% never needs a 15% approval because of a
// rounding error.

import { InvalidInput, Business, Internal } from './alur-step.js';

// ISO 4217 currencies whose minor unit is not the cent.
const MINOR_UNITS = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0, UYI: 0, VND: 0, VUV: 0,
  XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
};

// Guards that keep every total a safe JS integer in the output and a quote's evaluation cheap.
const MAX_LINES = 1000;
const MAX_QUANTITY = 1_000_000_000;
const MAX_TOTAL_MINOR = BigInt(Number.MAX_SAFE_INTEGER);
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

export const DEFAULTS = Object.freeze({
  levels: '15,25,40',
  roles: 'manager,director,vp',
  maxDiscount: '60',
  maxReminders: 3,
});

/** Minor-unit digits of an ISO 4217 code. */
export function minorUnits(currency) {
  return MINOR_UNITS[currency] ?? 2;
}

// Decimal text of a non-negative JSON number or numeric string; a number is read through its shortest
// round-trip text (19.99 -> "19.99"), which is the literal the sender wrote for any amount a quote can hold.
function decimalText(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null;
  if (typeof value === 'string') return value.trim();
  return null;
}

/** Parses a non-negative amount into BigInt units of 10^-`scale`; `null` when it is not such an amount. */
export function toScaled(value, scale) {
  const text = decimalText(value);
  const m = text === null ? null : DECIMAL.exec(text);
  if (!m) return null;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > scale) return null;
  return BigInt(m[1]) * 10n ** BigInt(scale) + BigInt(frac.padEnd(scale, '0') || '0');
}

/** `n / d` rounded half away from zero, for BigInt `d > 0`. */
export function roundDiv(n, d) {
  const q = (2n * (n < 0n ? -n : n) + d) / (2n * d);
  return n < 0n ? -q : q;
}

/** Formats BigInt minor units as decimal text with `scale` digits: 123450n, 2 -> "1234.50". */
export function formatScaled(units, scale) {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const s = abs.toString().padStart(scale + 1, '0');
  const whole = scale === 0 ? s : s.slice(0, -scale);
  const frac = scale === 0 ? '' : `.${s.slice(-scale)}`;
  return `${neg ? '-' : ''}${whole}${frac}`;
}

function pctText(bp) {
  return `${formatScaled(bp, 2)}%`;
}

function configError(key, message) {
  return new Internal('invalid-config', `config \`${key}\`: ${message}`);
}

/**
 * The approval ladder from the step's config texts: `levels` ("15,25,40": the discount % above which each level
 * must approve), `roles` (who approves at each level) and `maxDiscount` (the % above which no one may approve).
 * A bad config is the definition's fault: an `internal` `invalid-config` error.
 */
export function parsePolicy({ levels = DEFAULTS.levels, roles = DEFAULTS.roles, maxDiscount = DEFAULTS.maxDiscount } = {}) {
  const thresholds = String(levels)
    .split(',')
    .map((s) => s.trim());
  const names = String(roles)
    .split(',')
    .map((s) => s.trim());
  if (thresholds.length === 0 || thresholds.some((t) => t === '')) {
    throw configError('levels', `${JSON.stringify(levels)} is not a comma-separated list of percentages`);
  }
  if (names.length !== thresholds.length || names.some((n) => n === '')) {
    throw configError('roles', `needs one role per level (${thresholds.length}), got ${JSON.stringify(roles)}`);
  }
  const ladder = thresholds.map((t, i) => {
    const bp = toScaled(t, 2);
    if (bp === null || bp > 10000n) throw configError('levels', `${JSON.stringify(t)} is not a percentage from 0 to 100`);
    return { level: i + 1, role: names[i], aboveBp: bp };
  });
  for (let i = 1; i < ladder.length; i++) {
    if (ladder[i].aboveBp <= ladder[i - 1].aboveBp) {
      throw configError('levels', `thresholds must increase, got ${JSON.stringify(levels)}`);
    }
  }
  const maxBp = toScaled(String(maxDiscount).trim(), 2);
  if (maxBp === null || maxBp > 10000n) {
    throw configError('max_discount', `${JSON.stringify(maxDiscount)} is not a percentage from 0 to 100`);
  }
  const top = ladder[ladder.length - 1];
  if (maxBp < top.aboveBp) {
    throw configError('max_discount', `${pctText(maxBp)} is below the ${top.role} threshold of ${pctText(top.aboveBp)}`);
  }
  return { ladder, maxBp };
}

function bad(code, message) {
  return new InvalidInput(code, message);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function amount(value, scale, currency, where) {
  const units = toScaled(value, scale);
  if (units === null) {
    throw bad(
      'invalid-amount',
      `${where} must be a non-negative amount with at most ${scale} decimals for ${currency}, got ${JSON.stringify(value)}`,
    );
  }
  return units;
}

/** Validates the `quote` object of the input; returns it in exact units. */
export function readQuote(quote) {
  if (!isObject(quote)) throw bad('missing-quote', '`quote` must be an object');
  const { id, currency, lines } = quote;
  if (typeof id !== 'string' || id.trim() === '') throw bad('invalid-quote', '`quote.id` must be a non-empty string');
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) {
    throw bad('invalid-currency', `\`quote.currency\` must be an ISO 4217 code such as "EUR", got ${JSON.stringify(currency)}`);
  }
  if (!Array.isArray(lines) || lines.length === 0) throw bad('no-lines', '`quote.lines` must be a non-empty list');
  if (lines.length > MAX_LINES) throw bad('too-many-lines', `a quote has at most ${MAX_LINES} lines, got ${lines.length}`);
  const scale = minorUnits(currency);
  const read = lines.map((line, i) => {
    const at = `quote.lines[${i}]`;
    if (!isObject(line)) throw bad('invalid-line', `\`${at}\` must be an object`);
    if (typeof line.sku !== 'string' || line.sku.trim() === '') throw bad('invalid-line', `\`${at}.sku\` must be a non-empty string`);
    const q = line.quantity;
    if (!Number.isSafeInteger(q) || q <= 0 || q > MAX_QUANTITY) {
      throw bad('invalid-quantity', `\`${at}.quantity\` must be a whole number from 1 to ${MAX_QUANTITY}, got ${JSON.stringify(q)}`);
    }
    const listPrice = amount(line.list_price, scale, currency, `\`${at}.list_price\``);
    const unitPrice = amount(line.unit_price, scale, currency, `\`${at}.unit_price\``);
    return { sku: line.sku, quantity: BigInt(q), listPrice, unitPrice };
  });
  let headerBp = 0n;
  if (quote.requested_discount_pct !== undefined && quote.requested_discount_pct !== null) {
    headerBp = toScaled(quote.requested_discount_pct, 2);
    if (headerBp === null || headerBp > 10000n) {
      throw bad(
        'invalid-discount',
        `\`quote.requested_discount_pct\` must be a percentage from 0 to 100 with at most 2 decimals, got ${JSON.stringify(quote.requested_discount_pct)}`,
      );
    }
  }
  return { id, currency, scale, lines: read, headerBp };
}

/** Validates the approvals collected so far against the ladder's levels. */
export function readApprovals(approvals, ladder) {
  if (approvals === undefined || approvals === null) return [];
  if (!Array.isArray(approvals)) throw bad('invalid-approval', '`approvals` must be a list');
  return approvals.map((a, i) => {
    const at = `approvals[${i}]`;
    if (!isObject(a)) throw bad('invalid-approval', `\`${at}\` must be an object`);
    if (!Number.isInteger(a.level) || a.level < 1 || a.level > ladder.length) {
      throw bad('invalid-approval', `\`${at}.level\` must be a level from 1 to ${ladder.length}, got ${JSON.stringify(a.level)}`);
    }
    if (typeof a.approver !== 'string' || a.approver.trim() === '') {
      throw bad('invalid-approval', `\`${at}.approver\` must name who decided`);
    }
    if (a.decision !== 'approved' && a.decision !== 'rejected') {
      throw bad('invalid-approval', `\`${at}.decision\` must be "approved" or "rejected", got ${JSON.stringify(a.decision)}`);
    }
    return { level: a.level, approver: a.approver, decision: a.decision };
  });
}

/** Totals of a read quote in exact units. */
export function totals(q) {
  let list = 0n;
  let linesNet = 0n;
  const lines = q.lines.map((l) => {
    const lineList = l.quantity * l.listPrice;
    const lineNet = l.quantity * l.unitPrice;
    list += lineList;
    linesNet += lineNet;
    return { sku: l.sku, list: lineList, net: lineNet };
  });
  // The quote-level discount comes off the lines' net total, rounded once, to the minor unit.
  const header = roundDiv(linesNet * q.headerBp, 10000n);
  const net = linesNet - header;
  if (list > MAX_TOTAL_MINOR || linesNet > MAX_TOTAL_MINOR) {
    throw bad('amount-too-large', `the quote's totals exceed ${formatScaled(MAX_TOTAL_MINOR, q.scale)} ${q.currency}`);
  }
  if (list === 0n) throw bad('zero-list-total', 'the quote has no list value, so its discount is undefined');
  return { list, linesNet, header, net, discount: list - net, lines };
}

// discount / list > bp / 10000, exactly.
function above(t, bp) {
  return t.discount * 10000n > bp * t.list;
}

function discountBp(part, whole) {
  return whole === 0n ? 0n : roundDiv(part * 10000n, whole);
}

/**
 * Prices a quote and decides where its approval stands:
 * - `needed_levels`: every level whose threshold the effective discount is strictly above (a 30% discount with
 *   "15,25,40" needs the manager, then the director);
 * - any rejection, at any level, rejects the quote;
 * - otherwise the first needed level without an approval is the one to ask next (`decision: "pending"`), and
 *   with none left the quote is `approved`.
 * A discount above the maximum is a `business` error `discount-over-limit`: nobody may approve it.
 */
export function evaluate(input, policy) {
  if (!isObject(input)) throw bad('invalid-input', 'the input must be an object with a `quote`');
  const q = readQuote(input.quote);
  const approvals = readApprovals(input.approvals, policy.ladder);
  const t = totals(q);
  const pct = discountBp(t.discount, t.list);
  if (above(t, policy.maxBp)) {
    throw new Business(
      'discount-over-limit',
      `quote ${q.id}: the effective discount of ${pctText(pct)} is above the ${pctText(policy.maxBp)} that anyone may approve`,
    );
  }
  const needed = policy.ladder.filter((l) => above(t, l.aboveBp));
  const approvedLevels = [...new Set(approvals.filter((a) => a.decision === 'approved').map((a) => a.level))].sort(
    (a, b) => a - b,
  );
  const rejection = approvals.find((a) => a.decision === 'rejected');
  const next = rejection ? undefined : needed.find((l) => !approvedLevels.includes(l.level));
  const decision = rejection ? 'rejected' : next ? 'pending' : 'approved';
  const fmt = (units) => formatScaled(units, q.scale);
  return {
    quote_id: q.id,
    currency: q.currency,
    totals: {
      list: fmt(t.list),
      net: fmt(t.net),
      discount: fmt(t.discount),
      quote_discount: fmt(t.header),
      discount_pct: Number(pct) / 100,
      list_minor: Number(t.list),
      net_minor: Number(t.net),
      discount_minor: Number(t.discount),
    },
    lines: t.lines.map((l) => ({
      sku: l.sku,
      list: fmt(l.list),
      net: fmt(l.net),
      discount_pct: Number(discountBp(l.list - l.net, l.list)) / 100,
    })),
    needed_levels: needed.map((l) => ({ level: l.level, role: l.role, above_pct: Number(l.aboveBp) / 100 })),
    approved_levels: approvedLevels,
    next_level: next ? next.level : null,
    next_role: next ? next.role : null,
    decision,
    rejected_by: rejection ? { level: rejection.level, approver: rejection.approver } : null,
  };
}

/**
 * The reminder for a quote still waiting on an approver: who to nudge and which reminder this is. After
 * `maxReminders` reminders the quote expires: a `business` error `approval-expired`.
 */
export function remind(input, policy, maxReminders) {
  const evaluation = evaluate(input, policy);
  if (evaluation.decision !== 'pending') {
    throw bad('nothing-pending', `quote ${evaluation.quote_id} is ${evaluation.decision}: nobody is left to remind`);
  }
  const sent = input.reminders_sent ?? 0;
  if (!Number.isSafeInteger(sent) || sent < 0) {
    throw bad('invalid-reminders', `\`reminders_sent\` must be a whole number from 0, got ${JSON.stringify(sent)}`);
  }
  if (sent >= maxReminders) {
    throw new Business(
      'approval-expired',
      `quote ${evaluation.quote_id}: no decision from the ${evaluation.next_role} after ${sent} reminder(s)`,
    );
  }
  const t = evaluation.totals;
  return {
    quote_id: evaluation.quote_id,
    decision: 'pending',
    remind_level: evaluation.next_level,
    remind_role: evaluation.next_role,
    reminder: sent + 1,
    max_reminders: maxReminders,
    message:
      `Reminder ${sent + 1} of ${maxReminders}: quote ${evaluation.quote_id} (${t.net} ${evaluation.currency} net, ` +
      `${t.discount_pct}% off list) waits for the ${evaluation.next_role}'s decision`,
  };
}
