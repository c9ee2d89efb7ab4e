// crm-quote-policy: prices a sales quote and says which discount approvals it needs and which comes next.
//
// Config (every value a string, as in a definition's `config:` block):
//   mode           "evaluate" (default) or "remind"
//   levels         "15,25,40": the discount % above which level 1, 2, 3 must approve
//   roles          "manager,director,vp": who approves at each level
//   max_discount   "60": above this % nobody may approve (a `business` error `discount-over-limit`)
//   max_reminders  "3": in remind mode, the reminders before the quote expires (`business` `approval-expired`)
import { step, config, log, Internal } from './alur-step.js';
import { parsePolicy, evaluate, remind, DEFAULTS } from './policy.js';

export const run = step((ctx, input) => {
  const policy = parsePolicy({
    levels: config.get('levels', DEFAULTS.levels),
    roles: config.get('roles', DEFAULTS.roles),
    maxDiscount: config.get('max_discount', DEFAULTS.maxDiscount),
  });
  const mode = config.get('mode', 'evaluate');
  if (mode === 'remind') {
    const maxReminders = config.int('max_reminders', DEFAULTS.maxReminders);
    const out = remind(input, policy, maxReminders);
    log.info(out.message);
    return out;
  }
  if (mode !== 'evaluate') {
    // The definition chose the mode, so a wrong one is its bug rather than the input's.
    throw new Internal('invalid-config', `config \`mode\` must be "evaluate" or "remind", got ${JSON.stringify(mode)}`);
  }
  const out = evaluate(input, policy);
  log.info(
    `quote ${out.quote_id}: ${out.totals.discount_pct}% off, needs ${out.needed_levels.length} level(s), ${out.decision}` +
      (out.next_role ? `, next: ${out.next_role}` : ''),
  );
  return out;
});
