// {{name}}: an Alur step plugin in JavaScript.
//
// Input:  {"contact": {"email": "Ana@Acme.io", "name": " Ana  Lima "}}
// Output: {"contact": {"email": "ana@acme.io", "name": "Ana Lima"}, "domain": "acme.io", "seen_from_domain": 3}
// Config: `blocked_domains` ("spam.io,example.com") turns contacts from those domains away with a `business`
// error `blocked-domain`, which a process definition can route with `on-error`.
//
// The step counts the contacts it has seen per email domain in its key-value state; the count only moves when
// the engine commits the step, so a retried attempt does not count twice.
import { step, config, kv, log, InvalidInput, Business } from './alur-step.js';

export const run = step((ctx, input) => {
  const contact = input?.contact;
  if (contact === null || typeof contact !== 'object' || typeof contact.email !== 'string') {
    throw new InvalidInput('missing-email', '`contact.email` must be a string');
  }
  const email = contact.email.trim().toLowerCase();
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1 || /\s/.test(email)) {
    throw new InvalidInput('invalid-email', `${JSON.stringify(contact.email)} is not an email address`);
  }
  const domain = email.slice(at + 1);
  if (config.list('blocked_domains', []).map((d) => d.toLowerCase()).includes(domain)) {
    throw new Business('blocked-domain', `contacts from ${domain} are not accepted`);
  }
  const key = `seen:${domain}`;
  const seen = kv.getJson(key, 0) + 1;
  kv.setJson(key, seen);
  log.info(`contact from ${domain} (#${seen}, attempt ${ctx.attempt})`);
  const name = typeof contact.name === 'string' ? contact.name.trim().replace(/\s+/g, ' ') : null;
  return { contact: { email, name }, domain, seen_from_domain: seen };
});
