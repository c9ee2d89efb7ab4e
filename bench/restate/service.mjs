// The peer's side of the end-to-end benchmark: Alur's three-step `lead-intake`-like process written as a
// Restate service whose steps are journaled `ctx.run` steps. Each step is a no-op like Alur's `noop` plugin
// (it answers {"ok":true}), so both systems do the same orchestration work and nothing else:
// three durable step results per workflow, and the workflow's start and completion.
//
// `node --import ./polyfill.mjs service.mjs [port]`; register it with Restate's admin API afterwards.
import * as restate from '@restatedev/restate-sdk';

const noop = () => ({ ok: true });

const leadIntake = restate.service({
  name: 'LeadIntake',
  handlers: {
    run: async (ctx, input) => {
      if (typeof input !== 'object' || input === null || typeof input.lead !== 'object') {
        throw new restate.TerminalError('input must be {"lead": {...}}', { errorCode: 400 });
      }
      const score = await ctx.run('score', noop);
      const assign = await ctx.run('assign', noop);
      const notify = await ctx.run('notify', noop);
      return { score, assign, notify };
    },
  },
});

const port = Number(process.argv[2] ?? 9080);
restate.endpoint().bind(leadIntake).listen(port);
