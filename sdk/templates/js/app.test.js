// Unit tests of {{name}} under plain Node: `./test.sh` (or `node --test`). The fake host stands in for the
// runtime's config, key-value state and log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { invoke } from './alur-step-testing.js';
import { run } from './app.js';

test('normalizes the contact and counts its domain', () => {
  const { output, host } = invoke(run, { contact: { email: ' Ana@ACME.io ', name: ' Ana   Lima ' } }, { kv: { 'seen:acme.io': 2 } });
  assert.deepEqual(output, { contact: { email: 'ana@acme.io', name: 'Ana Lima' }, domain: 'acme.io', seen_from_domain: 3 });
  assert.equal(host.kvJson('seen:acme.io'), 3);
  assert.deepEqual(host.messages('info'), ['contact from acme.io (#3, attempt 1)']);
});

test('a blocked domain is a business error a process can route', () => {
  const { error } = invoke(run, { contact: { email: 'x@Spam.io' } }, { config: { blocked_domains: 'spam.io, Example.com' } });
  assert.deepEqual(error, { kind: 'business', code: 'blocked-domain', message: 'contacts from spam.io are not accepted' });
});

test('input without a usable email is invalid-input', () => {
  assert.equal(invoke(run, {}).error.code, 'missing-email');
  assert.equal(invoke(run, { contact: { email: 'ana.acme.io' } }).error.code, 'invalid-email');
  assert.equal(invoke(run, { contact: { email: 'ana@' } }).error.kind, 'invalid-input');
});
