//! The executor's state machine: the state of one instance and the transitions that events cause.
//!
//! [`Machine::apply`] takes one journal [`Event`] and its time, updates the state and returns the
//! [`Action`]s the driver must carry out (run a step, arm a timer, start a sub-process) plus the *records*
//! to journal with the event. It does no I/O and is deterministic: time comes from the event's journal
//! timestamp and randomness (retry jitter) is decided by the driver and journaled in the event. So
//! replaying an instance's journal rebuilds exactly the state it had, and [`Machine::resume`] then says what
//! was in flight when the runtime stopped.
//!
//! Control flow uses tokens, one per thread of control: the root sequence, each `parallel` branch, each
//! `for-each` iteration, each compensation step. A token moves through the steps of its sequence until it
//! reaches a step that needs the outside world, and ends at the end of its sequence.

use super::event::{ErrorInfo, Event, TokenId};
use super::model::{Next, Process, ROOT, SleepSpec, StepIdx, StepKind};
use crate::store::{InstanceStatus, Millis};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Steps the machine may pass through in one `apply` before it calls the instance a runaway loop. Validation
/// forbids loops without a wait or sleep, so only a bug could get here; the limit keeps such a bug from
/// hanging a worker.
const MAX_TRANSITIONS_PER_EVENT: u32 = 10_000;

/// What the driver must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run an attempt of a plugin step (the driver journals `StepStarted` first).
    RunStep {
        /// The token.
        token: TokenId,
        /// The step.
        step: StepIdx,
        /// The attempt.
        attempt: u32,
        /// Its input.
        input: Value,
    },
    /// Deliver `TimerFired { token, timer }` at `due`.
    StartTimer {
        /// The token.
        token: TokenId,
        /// The timer id.
        timer: u32,
        /// When (ms since epoch).
        due: Millis,
    },
    /// Start a sub-process, then journal `ChildStarted`.
    StartChild {
        /// The token.
        token: TokenId,
        /// The `call` step.
        step: StepIdx,
        /// The process to start.
        process: String,
        /// Its input.
        input: Value,
    },
    /// Deliver `ChildFinished` when this (already started) child finishes.
    WatchChild {
        /// The token.
        token: TokenId,
        /// The child id.
        child: String,
    },
    /// Cancel a sub-process that is no longer wanted.
    CancelChild {
        /// The child id.
        child: String,
    },
    /// Journal this record with the event.
    Record(Event),
}

#[derive(Debug, Clone)]
enum Slot {
    Root,
    Branch(String),
    Iteration { index: usize, item: Value },
    Undo { undoes: String },
}

#[derive(Debug, Clone)]
enum TokenState {
    /// `RunStep` issued, `StepStarted` not yet journaled.
    Pending {
        attempt: u32,
        input: Value,
    },
    /// `StepStarted` journaled.
    Running {
        attempt: u32,
        input: Value,
    },
    /// A retry is due at `due`.
    RetryWait {
        attempt: u32,
        input: Value,
        timer: u32,
        due: Millis,
    },
    Waiting {
        signal: String,
        timer: Option<(u32, Millis)>,
    },
    Sleeping {
        timer: u32,
        due: Millis,
    },
    Child {
        child: Option<String>,
        input: Value,
    },
    Joining {
        remaining: usize,
        results: Map<String, Value>,
    },
    Iterating {
        items: Vec<Value>,
        next: usize,
        running: usize,
        results: Vec<Value>,
        concurrency: usize,
    },
}

#[derive(Debug, Clone)]
struct Token {
    at: StepIdx,
    state: TokenState,
    parent: Option<TokenId>,
    slot: Slot,
    /// Outputs of steps run inside a for-each iteration, private to it.
    locals: Map<String, Value>,
    /// The last output in this token: the default input of its next step and its result when it ends.
    last: Value,
}

#[derive(Debug, Clone)]
struct Compensation {
    queue: Vec<(StepIdx, String)>,
    error: ErrorInfo,
}

/// The state of one instance.
#[derive(Debug, Clone)]
pub struct Machine {
    def: Arc<Process>,
    status: InstanceStatus,
    input: Value,
    vars: Map<String, Value>,
    outputs: Map<String, Value>,
    tokens: BTreeMap<TokenId, Token>,
    next_token: TokenId,
    next_timer: u32,
    /// Completed steps that name an undo step: (undo step, completed step id), in completion order.
    undoable: Vec<(StepIdx, String)>,
    compensation: Option<Compensation>,
    output: Option<Value>,
    error: Option<ErrorInfo>,
    now: Millis,
    transitions: u32,
}

impl Machine {
    /// A machine for a new or replayed instance of `def`.
    pub fn new(def: Arc<Process>) -> Self {
        Machine {
            def,
            status: InstanceStatus::Running,
            input: Value::Null,
            vars: Map::new(),
            outputs: Map::new(),
            tokens: BTreeMap::new(),
            next_token: 0,
            next_timer: 0,
            undoable: Vec::new(),
            compensation: None,
            output: None,
            error: None,
            now: 0,
            transitions: 0,
        }
    }

    /// The process definition.
    pub fn process(&self) -> &Arc<Process> {
        &self.def
    }

    /// The instance's status.
    pub fn status(&self) -> InstanceStatus {
        self.status
    }

    /// The output, once completed.
    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// The error, once failed or cancelled.
    pub fn error(&self) -> Option<&ErrorInfo> {
        self.error.as_ref()
    }

    /// Whether some token waits for `signal`.
    pub fn waits_for(&self, signal: &str) -> bool {
        self.tokens.values().any(|t| matches!(&t.state, TokenState::Waiting { signal: s, .. } if s == signal))
    }

    /// The attempt a token is running of its current step, if it is running one.
    pub fn running_attempt(&self, token: TokenId) -> Option<(StepIdx, u32)> {
        match self.tokens.get(&token)?.state {
            TokenState::Pending { attempt, .. } | TokenState::Running { attempt, .. } => {
                Some((self.tokens[&token].at, attempt))
            }
            _ => None,
        }
    }

    /// What the instance is doing now: `{"steps": [...], "waiting_for": [...], "sleeping_until": ...}`.
    pub fn activity(&self) -> Value {
        let mut steps = Vec::new();
        let mut waiting = Vec::new();
        let mut timers = Vec::new();
        for t in self.tokens.values() {
            let id = &self.def.steps[t.at].id;
            match &t.state {
                TokenState::Pending { .. } | TokenState::Running { .. } | TokenState::Child { .. } => {
                    steps.push(json!(id))
                }
                TokenState::RetryWait { due, .. } => {
                    steps.push(json!(id));
                    timers.push(*due)
                }
                TokenState::Waiting { signal, timer } => {
                    waiting.push(json!(signal));
                    if let Some((_, due)) = timer {
                        timers.push(*due)
                    }
                }
                TokenState::Sleeping { due, .. } => timers.push(*due),
                TokenState::Joining { .. } | TokenState::Iterating { .. } => {}
            }
        }
        let mut a = json!({ "steps": steps, "waiting_for": waiting });
        if let Some(next) = timers.iter().min() {
            a["next_timer_at"] = json!(next);
        }
        if self.compensation.is_some() {
            a["compensating"] = json!(true);
        }
        a
    }

    /// Applies one event journaled at `at`, returning what to do next.
    pub fn apply(&mut self, event: &Event, at: Millis) -> Vec<Action> {
        let mut acts = Vec::new();
        self.now = at;
        self.transitions = 0;
        if self.status.is_terminal() && !event.is_record() {
            return acts;
        }
        match event {
            Event::Started { input } => {
                self.input = input.clone();
                let token = self.spawn(None, Slot::Root, input.clone());
                match self.def.first(ROOT) {
                    Some(first) => self.enter(token, first, &mut acts),
                    None => self.end_token(token, &mut acts),
                }
            }
            Event::StepStarted { token, step, attempt } => {
                if let Some(t) = self.tokens.get_mut(token)
                    && self.def.steps[t.at].id == *step
                    && let TokenState::Pending { input, .. } | TokenState::Running { input, .. } = &t.state
                {
                    t.state = TokenState::Running { attempt: *attempt, input: input.clone() };
                }
            }
            Event::StepCompleted { token, step, attempt, output, .. } => {
                if self.is_running(*token, step, *attempt) {
                    self.complete_step(*token, output.clone(), &mut acts);
                }
            }
            Event::StepFailed { token, step, attempt, error, retry_at, .. } => {
                if self.is_running(*token, step, *attempt) {
                    self.step_failed(*token, *attempt, error, *retry_at, &mut acts);
                }
            }
            Event::TimerFired { token, timer } => self.timer_fired(*token, *timer, &mut acts),
            Event::SignalReceived { name, payload } => {
                let waiting: Vec<TokenId> = self
                    .tokens
                    .iter()
                    .filter(|(_, t)| matches!(&t.state, TokenState::Waiting { signal, .. } if signal == name))
                    .map(|(id, _)| *id)
                    .collect();
                for token in waiting {
                    self.pass_step(token, payload.clone(), &mut acts);
                }
            }
            Event::ChildStarted { token, step, child } => {
                if let Some(t) = self.tokens.get_mut(token)
                    && self.def.steps[t.at].id == *step
                    && let TokenState::Child { child: c, .. } = &mut t.state
                {
                    *c = Some(child.clone());
                }
            }
            Event::ChildFinished { token, child, output, error } => {
                let matches = self.tokens.get(token).is_some_and(|t| match &t.state {
                    TokenState::Child { child: Some(c), .. } => c == child,
                    // A child that could not even be started is reported with an empty id.
                    TokenState::Child { child: None, .. } => child.is_empty(),
                    _ => false,
                });
                if matches {
                    match (output, error) {
                        (_, Some(e)) => self.fail_instance(e.clone(), &mut acts),
                        (Some(out), None) => self.complete_step(*token, out.clone(), &mut acts),
                        (None, None) => self.complete_step(*token, Value::Null, &mut acts),
                    }
                }
            }
            Event::CancelRequested { reason } => {
                self.drop_tokens(&mut acts);
                self.compensation = None;
                self.status = InstanceStatus::Cancelled;
                self.error = Some(ErrorInfo::new("cancelled", "cancelled", reason.clone()));
                acts.push(Action::Record(Event::Cancelled));
            }
            // Records change nothing on replay: the inputs before them derived them already.
            Event::StepPassed { .. }
            | Event::ErrorRouted { .. }
            | Event::CompensationStarted { .. }
            | Event::Completed { .. }
            | Event::Failed { .. }
            | Event::Cancelled => {}
        }
        acts
    }

    /// What was in flight after a replay: steps to (re)run, timers to re-arm, children to start or watch.
    /// A step that had started but not finished runs again as a new attempt.
    pub fn resume(&self) -> Vec<Action> {
        let mut acts = Vec::new();
        if self.status.is_terminal() {
            return acts;
        }
        for (id, t) in &self.tokens {
            match &t.state {
                TokenState::Pending { attempt, input } => {
                    acts.push(Action::RunStep { token: *id, step: t.at, attempt: *attempt, input: input.clone() })
                }
                TokenState::Running { attempt, input } => {
                    acts.push(Action::RunStep { token: *id, step: t.at, attempt: attempt + 1, input: input.clone() })
                }
                TokenState::RetryWait { timer, due, .. } | TokenState::Sleeping { timer, due } => {
                    acts.push(Action::StartTimer { token: *id, timer: *timer, due: *due })
                }
                TokenState::Waiting { timer: Some((timer, due)), .. } => {
                    acts.push(Action::StartTimer { token: *id, timer: *timer, due: *due })
                }
                TokenState::Waiting { timer: None, .. } => {}
                TokenState::Child { child: None, input } => {
                    if let StepKind::Call { process, .. } = &self.def.steps[t.at].kind {
                        acts.push(Action::StartChild {
                            token: *id,
                            step: t.at,
                            process: process.clone(),
                            input: input.clone(),
                        })
                    }
                }
                TokenState::Child { child: Some(child), .. } => {
                    acts.push(Action::WatchChild { token: *id, child: child.clone() })
                }
                TokenState::Joining { .. } | TokenState::Iterating { .. } => {}
            }
        }
        acts
    }

    /// The retry policy of a plugin step.
    pub fn retry_policy(&self, step: StepIdx) -> Option<&super::model::RetryPolicy> {
        match &self.def.steps.get(step)?.kind {
            StepKind::Plugin(p) => Some(&p.retry),
            _ => None,
        }
    }

    fn is_running(&self, token: TokenId, step: &str, attempt: u32) -> bool {
        self.tokens.get(&token).is_some_and(|t| {
            self.def.steps[t.at].id == step
                && matches!(&t.state, TokenState::Pending { attempt: a, .. } | TokenState::Running { attempt: a, .. } if *a == attempt)
        })
    }

    fn spawn(&mut self, parent: Option<TokenId>, slot: Slot, last: Value) -> TokenId {
        let id = self.next_token;
        self.next_token += 1;
        self.tokens.insert(
            id,
            Token {
                at: 0,
                state: TokenState::Joining { remaining: 0, results: Map::new() },
                parent,
                slot,
                locals: Map::new(),
                last,
            },
        );
        id
    }

    fn timer(&mut self) -> u32 {
        self.next_timer += 1;
        self.next_timer
    }

    /// The expression context `{input, steps, vars, item?, index?}` as seen from a token.
    fn context(&self, token: TokenId) -> Value {
        let mut steps = self.outputs.clone();
        let mut item = None;
        let mut chain = Vec::new();
        let mut cur = Some(token);
        while let Some(id) = cur {
            let Some(t) = self.tokens.get(&id) else { break };
            chain.push(id);
            if item.is_none()
                && let Slot::Iteration { index, item: it } = &t.slot
            {
                item = Some((*index, it.clone()));
            }
            cur = t.parent;
        }
        // Outer iterations first, so the innermost iteration's outputs win.
        for id in chain.iter().rev() {
            for (k, v) in &self.tokens[id].locals {
                steps.insert(k.clone(), v.clone());
            }
        }
        let mut ctx = json!({ "input": self.input, "steps": steps, "vars": self.vars });
        if let Some((index, it)) = item {
            ctx["item"] = it;
            ctx["index"] = json!(index);
        }
        ctx
    }

    fn write_output(&mut self, token: TokenId, step_id: &str, value: Value) {
        let mut cur = Some(token);
        while let Some(id) = cur {
            let Some(t) = self.tokens.get(&id) else { break };
            if matches!(t.slot, Slot::Iteration { .. }) {
                if let Some(t) = self.tokens.get_mut(&id) {
                    t.locals.insert(step_id.to_string(), value);
                }
                return;
            }
            cur = t.parent;
        }
        self.outputs.insert(step_id.to_string(), value);
    }

    /// Moves `token` to `step` and runs it as far as the machine can without the outside world.
    fn enter(&mut self, token: TokenId, step: StepIdx, acts: &mut Vec<Action>) {
        self.transitions += 1;
        if self.transitions > MAX_TRANSITIONS_PER_EVENT {
            let e = ErrorInfo::new("internal", "runaway-loop", "the process passed too many steps without waiting");
            return self.fail_instance(e, acts);
        }
        let Some(t) = self.tokens.get_mut(&token) else { return };
        t.at = step;
        let def = self.def.clone();
        let s = &def.steps[step];
        let ctx = || self.context(token);
        let eval = |expr: &super::expr::Expr, ctx: &Value| {
            expr.eval(ctx).map_err(|e| {
                ErrorInfo::new("invalid-input", "expression-failed", format!("step `{}`: {}: {e}", s.id, expr.source()))
            })
        };
        match &s.kind {
            StepKind::Plugin(p) => {
                let input = match &p.input {
                    Some(expr) => match eval(expr, &ctx()) {
                        Ok(v) => v,
                        Err(e) => return self.fail_instance(e, acts),
                    },
                    None => self.tokens[&token].last.clone(),
                };
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Pending { attempt: 1, input: input.clone() };
                }
                acts.push(Action::RunStep { token, step, attempt: 1, input });
            }
            StepKind::Switch { cases, default } => {
                let c = ctx();
                let mut target = *default;
                for (cond, to) in cases {
                    match cond.truthy(&c) {
                        Ok(true) => {
                            target = *to;
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            let e = ErrorInfo::new(
                                "invalid-input",
                                "expression-failed",
                                format!("step `{}`: {}: {e}", s.id, cond.source()),
                            );
                            return self.fail_instance(e, acts);
                        }
                    }
                }
                let out = json!({ "branch": def.steps[target].id });
                self.write_output(token, &s.id, out.clone());
                acts.push(Action::Record(Event::StepPassed { step: s.id.clone(), output: out }));
                self.enter(token, target, acts)
            }
            StepKind::Set(assignments) => {
                let c = ctx();
                let mut out = Map::new();
                for (name, expr) in assignments {
                    match eval(expr, &c) {
                        Ok(v) => {
                            self.vars.insert(name.clone(), v.clone());
                            out.insert(name.clone(), v);
                        }
                        Err(e) => return self.fail_instance(e, acts),
                    }
                }
                self.pass_step(token, Value::Object(out), acts)
            }
            StepKind::Parallel { branches } => {
                let last = self.tokens[&token].last.clone();
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Joining { remaining: branches.len(), results: Map::new() };
                }
                for (name, seq) in branches {
                    let child = self.spawn(Some(token), Slot::Branch(name.clone()), last.clone());
                    match def.first(*seq) {
                        Some(first) => self.enter(child, first, acts),
                        None => self.end_token(child, acts),
                    }
                    if self.status.is_terminal() || self.compensation.is_some() {
                        return;
                    }
                }
            }
            StepKind::ForEach { items, concurrency, .. } => {
                let items = match eval(items, &ctx()) {
                    Ok(Value::Array(items)) => items,
                    Ok(other) => {
                        let e = ErrorInfo::new(
                            "invalid-input",
                            "not-a-list",
                            format!(
                                "step `{}`: for-each items must be a list, got {}",
                                s.id,
                                super::definition::type_name(&other)
                            ),
                        );
                        return self.fail_instance(e, acts);
                    }
                    Err(e) => return self.fail_instance(e, acts),
                };
                if items.is_empty() {
                    return self.pass_step(token, json!([]), acts);
                }
                let n = items.len();
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Iterating {
                        items,
                        next: 0,
                        running: 0,
                        results: vec![Value::Null; n],
                        concurrency: (*concurrency).max(1) as usize,
                    };
                }
                self.spawn_iterations(token, acts);
            }
            StepKind::Wait { signal, timeout, .. } => {
                let timer = timeout.map(|d| (self.timer(), self.now + d.as_millis() as i64));
                if let Some((timer, due)) = timer {
                    acts.push(Action::StartTimer { token, timer, due });
                }
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Waiting { signal: signal.clone(), timer };
                }
            }
            StepKind::Sleep(spec) => {
                let due = match spec {
                    SleepSpec::For(d) => self.now + d.as_millis() as i64,
                    SleepSpec::Until(expr) => match eval(expr, &ctx()).and_then(|v| parse_timestamp(&v, &s.id)) {
                        Ok(due) => due,
                        Err(e) => return self.fail_instance(e, acts),
                    },
                };
                let timer = self.timer();
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Sleeping { timer, due };
                }
                acts.push(Action::StartTimer { token, timer, due });
            }
            StepKind::Call { process, input } => {
                let input = match input {
                    Some(expr) => match eval(expr, &ctx()) {
                        Ok(v) => v,
                        Err(e) => return self.fail_instance(e, acts),
                    },
                    None => self.tokens[&token].last.clone(),
                };
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Child { child: None, input: input.clone() };
                }
                acts.push(Action::StartChild { token, step, process: process.clone(), input });
            }
            StepKind::Fail { code, message } => {
                self.fail_instance(ErrorInfo::new("business", code, message.clone()), acts)
            }
        }
    }

    fn spawn_iterations(&mut self, token: TokenId, acts: &mut Vec<Action>) {
        let body = match &self.def.steps[self.tokens[&token].at].kind {
            StepKind::ForEach { body, .. } => *body,
            _ => return,
        };
        loop {
            let Some(t) = self.tokens.get_mut(&token) else { return };
            let TokenState::Iterating { items, next, running, concurrency, .. } = &mut t.state else { return };
            if *next >= items.len() || *running >= *concurrency {
                return;
            }
            let index = *next;
            let item = items[index].clone();
            *next += 1;
            *running += 1;
            let child = self.spawn(Some(token), Slot::Iteration { index, item: item.clone() }, item);
            match self.def.first(body) {
                Some(first) => self.enter(child, first, acts),
                None => self.end_token(child, acts),
            }
            if self.status.is_terminal() || self.compensation.is_some() {
                return;
            }
        }
    }

    /// A non-plugin step finished inside the machine: record it and move on.
    fn pass_step(&mut self, token: TokenId, output: Value, acts: &mut Vec<Action>) {
        let Some(t) = self.tokens.get(&token) else { return };
        let id = self.def.steps[t.at].id.clone();
        acts.push(Action::Record(Event::StepPassed { step: id, output: output.clone() }));
        self.complete_step(token, output, acts)
    }

    fn complete_step(&mut self, token: TokenId, output: Value, acts: &mut Vec<Action>) {
        let Some(t) = self.tokens.get_mut(&token) else { return };
        t.last = output.clone();
        let def = self.def.clone();
        let step = &def.steps[t.at];
        let slot_is_undo = matches!(t.slot, Slot::Undo { .. });
        self.write_output(token, &step.id, output);
        if slot_is_undo {
            return self.end_token(token, acts);
        }
        if let Some(undo) = step.undo {
            self.undoable.push((undo, step.id.clone()));
        }
        match step.next {
            Next::Step(n) => self.enter(token, n, acts),
            Next::End => self.end_token(token, acts),
        }
    }

    fn step_failed(
        &mut self,
        token: TokenId,
        attempt: u32,
        error: &ErrorInfo,
        retry_at: Option<Millis>,
        acts: &mut Vec<Action>,
    ) {
        let Some(t) = self.tokens.get(&token) else { return };
        let def = self.def.clone();
        let step = &def.steps[t.at];
        if let Some(due) = retry_at {
            let input = match &t.state {
                TokenState::Pending { input, .. } | TokenState::Running { input, .. } => input.clone(),
                _ => Value::Null,
            };
            let timer = self.timer();
            if let Some(t) = self.tokens.get_mut(&token) {
                t.state = TokenState::RetryWait { attempt: attempt + 1, input, timer, due };
            }
            acts.push(Action::StartTimer { token, timer, due });
            return;
        }
        if let Slot::Undo { undoes } = &t.slot {
            // Compensation is best effort: a failed undo is in the history, and the next one still runs.
            tracing::warn!(step = %step.id, undoes = %undoes, error = %error.message, "compensation step failed");
            return self.end_token(token, acts);
        }
        if let StepKind::Plugin(p) = &step.kind {
            let route = p.on_error.iter().find(|r| {
                r.kind.as_deref().is_none_or(|k| k == error.kind) && r.code.as_deref().is_none_or(|c| c == error.code)
            });
            if let Some(route) = route {
                let out = json!({ "error": error });
                self.write_output(token, &step.id, out.clone());
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.last = out;
                }
                acts.push(Action::Record(Event::ErrorRouted {
                    step: step.id.clone(),
                    to: def.steps[route.goto].id.clone(),
                }));
                return self.enter(token, route.goto, acts);
            }
        }
        let mut error = error.clone();
        error.message = format!("step `{}` failed: {}", step.id, error.message);
        self.fail_instance(error, acts)
    }

    fn timer_fired(&mut self, token: TokenId, timer: u32, acts: &mut Vec<Action>) {
        let Some(t) = self.tokens.get(&token) else { return };
        match &t.state {
            TokenState::RetryWait { attempt, input, timer: tm, .. } if *tm == timer => {
                let (attempt, input, step) = (*attempt, input.clone(), t.at);
                if let Some(t) = self.tokens.get_mut(&token) {
                    t.state = TokenState::Pending { attempt, input: input.clone() };
                }
                acts.push(Action::RunStep { token, step, attempt, input });
            }
            TokenState::Sleeping { timer: tm, .. } if *tm == timer => self.pass_step(token, Value::Null, acts),
            TokenState::Waiting { signal, timer: Some((tm, _)) } if *tm == timer => {
                let def = self.def.clone();
                let step = &def.steps[t.at];
                match &step.kind {
                    StepKind::Wait { on_timeout: Some(to), .. } => {
                        let to = *to;
                        self.write_output(token, &step.id, Value::Null);
                        acts.push(Action::Record(Event::StepPassed { step: step.id.clone(), output: Value::Null }));
                        self.enter(token, to, acts)
                    }
                    _ => {
                        let e = ErrorInfo::new(
                            "wait-timeout",
                            "wait-timeout",
                            format!("step `{}` waited for signal `{signal}` in vain", step.id),
                        );
                        self.fail_instance(e, acts)
                    }
                }
            }
            _ => {}
        }
    }

    fn end_token(&mut self, token: TokenId, acts: &mut Vec<Action>) {
        let Some(t) = self.tokens.remove(&token) else { return };
        match t.slot {
            Slot::Root => {
                let output = match &self.def.output {
                    Some(expr) => {
                        let ctx = json!({ "input": self.input, "steps": self.outputs, "vars": self.vars });
                        match expr.eval(&ctx) {
                            Ok(v) => v,
                            Err(e) => {
                                let e = ErrorInfo::new("invalid-input", "expression-failed", format!("output: {e}"));
                                return self.fail_instance(e, acts);
                            }
                        }
                    }
                    None => t.last,
                };
                self.drop_tokens(acts);
                self.status = InstanceStatus::Completed;
                self.output = Some(output.clone());
                acts.push(Action::Record(Event::Completed { output }));
            }
            Slot::Branch(name) => {
                let Some(parent) = t.parent else { return };
                let done = match self.tokens.get_mut(&parent).map(|p| &mut p.state) {
                    Some(TokenState::Joining { remaining, results }) => {
                        results.insert(name, t.last);
                        *remaining = remaining.saturating_sub(1);
                        (*remaining == 0).then(|| Value::Object(std::mem::take(results)))
                    }
                    _ => None,
                };
                if let Some(out) = done {
                    self.pass_step(parent, out, acts)
                }
            }
            Slot::Iteration { index, .. } => {
                let Some(parent) = t.parent else { return };
                let done = match self.tokens.get_mut(&parent).map(|p| &mut p.state) {
                    Some(TokenState::Iterating { items, next, running, results, .. }) => {
                        if let Some(r) = results.get_mut(index) {
                            *r = t.last;
                        }
                        *running = running.saturating_sub(1);
                        (*next >= items.len() && *running == 0).then(|| Value::Array(std::mem::take(results)))
                    }
                    _ => None,
                };
                match done {
                    Some(out) => self.pass_step(parent, out, acts),
                    None => self.spawn_iterations(parent, acts),
                }
            }
            Slot::Undo { .. } => self.next_compensation(acts),
        }
    }

    fn drop_tokens(&mut self, acts: &mut Vec<Action>) {
        for t in std::mem::take(&mut self.tokens).into_values() {
            if let TokenState::Child { child: Some(child), .. } = t.state {
                acts.push(Action::CancelChild { child });
            }
        }
    }

    fn fail_instance(&mut self, error: ErrorInfo, acts: &mut Vec<Action>) {
        if self.status.is_terminal() {
            return;
        }
        if self.compensation.is_some() {
            // An undo step could not even start (its input expression failed): skip it, as any failed undo.
            tracing::warn!(error = %error.message, "compensation step failed");
            self.tokens.clear();
            return self.next_compensation(acts);
        }
        self.drop_tokens(acts);
        if self.undoable.is_empty() {
            return self.finish_failed(error, acts);
        }
        let mut queue = std::mem::take(&mut self.undoable);
        queue.reverse();
        let undo = queue.iter().map(|(idx, _)| self.def.steps[*idx].id.clone()).collect();
        acts.push(Action::Record(Event::CompensationStarted { undo }));
        queue.reverse(); // popped from the end: the most recent completion first
        self.compensation = Some(Compensation { queue, error });
        self.next_compensation(acts)
    }

    fn next_compensation(&mut self, acts: &mut Vec<Action>) {
        let Some(comp) = self.compensation.as_mut() else { return };
        match comp.queue.pop() {
            Some((undo, undoes)) => {
                let last = self.outputs.get(&undoes).cloned().unwrap_or(Value::Null);
                let token = self.spawn(None, Slot::Undo { undoes }, last);
                self.enter(token, undo, acts)
            }
            None => {
                let error = comp.error.clone();
                self.compensation = None;
                self.finish_failed(error, acts)
            }
        }
    }

    fn finish_failed(&mut self, error: ErrorInfo, acts: &mut Vec<Action>) {
        self.status = InstanceStatus::Failed;
        self.error = Some(error.clone());
        acts.push(Action::Record(Event::Failed { error }));
    }
}

fn parse_timestamp(v: &Value, step: &str) -> Result<Millis, ErrorInfo> {
    let bad = || {
        ErrorInfo::new(
            "invalid-input",
            "bad-timestamp",
            format!("step `{step}`: `until` must be an RFC 3339 timestamp, got {v}"),
        )
    };
    let text = v.as_str().ok_or_else(bad)?;
    let t = humantime::parse_rfc3339_weak(text).map_err(|_| bad())?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?.as_millis();
    Ok(ms as Millis)
}

#[cfg(test)]
mod tests {
    //! The machine alone: events in, actions out; no wasm, no database.

    use super::*;
    use crate::process::definition::parse_yaml;

    struct TestEnv {
        m: Machine,
        now: Millis,
        journal: Vec<(Event, Millis)>,
    }

    impl TestEnv {
        fn new(yaml: &str) -> Self {
            let def = parse_yaml(yaml).unwrap_or_else(|p| panic!("invalid test definition: {p:?}"));
            TestEnv { m: Machine::new(Arc::new(def)), now: 1_000, journal: Vec::new() }
        }

        /// Applies an event like the driver does: `RunStep` becomes a journaled `StepStarted`.
        fn apply(&mut self, e: Event) -> Acts {
            self.journal.push((e.clone(), self.now));
            let acts = self.m.apply(&e, self.now);
            for a in &acts {
                match a {
                    Action::RunStep { token, step, attempt, .. } => {
                        let started = Event::StepStarted {
                            token: *token,
                            step: self.m.process().steps[*step].id.clone(),
                            attempt: *attempt,
                        };
                        self.m.apply(&started, self.now);
                        self.journal.push((started, self.now));
                    }
                    Action::Record(r) => self.journal.push((r.clone(), self.now)),
                    _ => {}
                }
            }
            let runs = acts
                .iter()
                .filter_map(|a| match a {
                    Action::RunStep { token, step, attempt, input } => Some(Run {
                        token: *token,
                        step: self.m.process().steps[*step].id.clone(),
                        attempt: *attempt,
                        input: input.clone(),
                    }),
                    _ => None,
                })
                .collect();
            Acts { acts, runs }
        }

        fn start(&mut self, input: Value) -> Acts {
            self.apply(Event::Started { input })
        }

        fn complete(&mut self, run: &Run, output: Value) -> Acts {
            self.apply(Event::StepCompleted {
                token: run.token,
                step: run.step.clone(),
                attempt: run.attempt,
                output,
                duration_ms: 1,
                fuel: 1,
            })
        }

        fn fail(&mut self, run: &Run, kind: &str, code: &str, retry_at: Option<Millis>) -> Acts {
            self.apply(Event::StepFailed {
                token: run.token,
                step: run.step.clone(),
                attempt: run.attempt,
                error: ErrorInfo::new(kind, code, "boom"),
                duration_ms: 1,
                fuel: 1,
                retry_at,
            })
        }
    }

    /// The actions of one event, with the steps to run already named.
    #[derive(Debug)]
    struct Acts {
        acts: Vec<Action>,
        runs: Vec<Run>,
    }

    impl std::ops::Deref for Acts {
        type Target = [Action];
        fn deref(&self) -> &[Action] {
            &self.acts
        }
    }

    fn runs(acts: &Acts) -> Vec<Run> {
        acts.runs.clone()
    }

    fn one_run(acts: &Acts) -> Run {
        assert_eq!(acts.runs.len(), 1, "expected one step to run, got {:?}", acts.acts);
        acts.runs[0].clone()
    }

    #[derive(Debug, Clone)]
    struct Run {
        token: TokenId,
        step: String,
        attempt: u32,
        input: Value,
    }

    fn timers(acts: &[Action]) -> Vec<(TokenId, u32, Millis)> {
        acts.iter()
            .filter_map(|a| match a {
                Action::StartTimer { token, timer, due } => Some((*token, *timer, *due)),
                _ => None,
            })
            .collect()
    }

    fn completed(acts: &[Action]) -> Option<Value> {
        acts.iter().find_map(|a| match a {
            Action::Record(Event::Completed { output }) => Some(output.clone()),
            _ => None,
        })
    }

    fn failed(acts: &[Action]) -> Option<ErrorInfo> {
        acts.iter().find_map(|a| match a {
            Action::Record(Event::Failed { error }) => Some(error.clone()),
            _ => None,
        })
    }

    const SEQUENCE: &str = r#"
name: seq
steps:
  - id: a
    plugin: p
    input: '{x: .input.x}'
  - id: b
    plugin: p
output: '{a: .steps.a, b: .steps.b}'
"#;

    #[test]
    fn a_sequence_feeds_each_output_to_the_next_step() {
        let mut env = TestEnv::new(SEQUENCE);
        let a = one_run(&env.start(json!({"x": 1})));
        assert_eq!((a.step.as_str(), a.attempt, &a.input), ("a", 1, &json!({"x": 1})));
        let b = one_run(&env.complete(&a, json!({"y": 2})));
        assert_eq!(b.input, json!({"y": 2}), "the default input is the previous output");
        let acts = env.complete(&b, json!("done"));
        assert_eq!(completed(&acts), Some(json!({"a": {"y": 2}, "b": "done"})));
        assert_eq!(env.m.status(), InstanceStatus::Completed);
    }

    #[test]
    fn a_stale_completion_is_ignored() {
        let mut env = TestEnv::new(SEQUENCE);
        let a = one_run(&env.start(json!({"x": 1})));
        let stale = Run { attempt: 7, ..a.clone() };
        assert!(env.complete(&stale, json!(1)).is_empty());
        assert_eq!(one_run(&env.complete(&a, json!(1))).step, "b");
    }

    #[test]
    fn switch_takes_the_first_matching_case_or_the_default() {
        let yaml = r#"
name: sw
steps:
  - id: route
    switch:
      - when: '.input.score >= 60'
        then: hot
      - default: cold
  - id: hot
    set: { kind: '"hot"' }
    next: end
  - id: cold
    set: { kind: '"cold"' }
output: '.vars.kind'
"#;
        for (score, kind) in [(80, "hot"), (10, "cold")] {
            let mut env = TestEnv::new(yaml);
            assert_eq!(completed(&env.start(json!({"score": score}))), Some(json!(kind)));
        }
    }

    #[test]
    fn transient_failures_retry_after_the_journaled_delay() {
        let mut env = TestEnv::new(SEQUENCE);
        let a = one_run(&env.start(json!({"x": 1})));
        let acts = env.fail(&a, "transient", "busy", Some(5_000));
        let [(token, timer, due)] = timers(&acts)[..] else { panic!("one timer expected: {acts:?}") };
        assert_eq!((token, due), (a.token, 5_000));
        assert!(runs(&acts).is_empty());
        env.now = 5_000;
        let retry = one_run(&env.apply(Event::TimerFired { token, timer }));
        assert_eq!((retry.step.as_str(), retry.attempt, &retry.input), ("a", 2, &json!({"x": 1})));
        // A failure without a retry fails the instance.
        let acts = env.fail(&retry, "transient", "busy", None);
        assert_eq!(failed(&acts).map(|e| e.code), Some("busy".to_string()));
    }

    #[test]
    fn on_error_routes_a_failure_by_kind_and_code() {
        let yaml = r#"
name: route
steps:
  - id: charge
    plugin: p
    on-error:
      - kind: business
        code: card-declined
        goto: notify
  - id: ship
    plugin: p
    next: end
  - id: notify
    plugin: p
"#;
        let mut env = TestEnv::new(yaml);
        let charge = one_run(&env.start(json!({})));
        let acts = env.fail(&charge, "business", "card-declined", None);
        let notify = one_run(&acts);
        assert_eq!(notify.step, "notify");
        assert_eq!(notify.input["error"]["code"], "card-declined");
        // Another code is not routed.
        let mut env = TestEnv::new(yaml);
        let charge = one_run(&env.start(json!({})));
        assert!(failed(&env.fail(&charge, "business", "fraud", None)).is_some());
    }

    #[test]
    fn parallel_branches_join_into_an_object() {
        let yaml = r#"
name: par
steps:
  - id: fan
    parallel:
      credit:
        - id: c1
          plugin: p
      stock:
        - id: s1
          plugin: p
        - id: s2
          plugin: p
"#;
        let mut env = TestEnv::new(yaml);
        let runs = runs(&env.start(json!({})));
        assert_eq!(runs.iter().map(|r| r.step.as_str()).collect::<Vec<_>>(), ["c1", "s1"]);
        let s2 = one_run(&env.complete(&runs[1], json!("s1")));
        assert!(completed(&env.complete(&runs[0], json!("credit ok"))).is_none(), "stock is still running");
        let acts = env.complete(&s2, json!("stock ok"));
        assert_eq!(completed(&acts), Some(json!({"credit": "credit ok", "stock": "stock ok"})));
    }

    #[test]
    fn for_each_bounds_concurrency_and_keeps_order() {
        let yaml = r#"
name: each
steps:
  - id: lines
    for-each:
      items: '.input.lines'
      concurrency: 2
      steps:
        - id: check
          plugin: p
          input: '{sku: .item, n: .index}'
"#;
        let mut env = TestEnv::new(yaml);
        let first = runs(&env.start(json!({"lines": ["a", "b", "c"]})));
        assert_eq!(first.len(), 2, "only two at once");
        assert_eq!(first[1].input, json!({"sku": "b", "n": 1}));
        let third = one_run(&env.complete(&first[1], json!("B")));
        assert_eq!(third.input, json!({"sku": "c", "n": 2}));
        assert!(completed(&env.complete(&third, json!("C"))).is_none());
        assert_eq!(completed(&env.complete(&first[0], json!("A"))), Some(json!(["A", "B", "C"])));
    }

    #[test]
    fn for_each_over_nothing_outputs_an_empty_list() {
        let yaml = "name: e\nsteps:\n  - id: l\n    for-each:\n      items: '[]'\n      steps:\n        - id: x\n          plugin: p\n";
        let mut env = TestEnv::new(yaml);
        assert_eq!(completed(&env.start(json!({}))), Some(json!([])));
    }

    const APPROVAL: &str = r#"
name: approval
steps:
  - id: approve
    wait: { signal: manager-approval, timeout: 48h, on-timeout: expired }
  - id: done
    set: { decision: '.steps.approve.decision' }
    next: end
  - id: expired
    set: { decision: '"expired"' }
output: '.vars.decision'
"#;

    #[test]
    fn wait_takes_the_signal_payload_and_ignores_its_stale_timer() {
        let mut env = TestEnv::new(APPROVAL);
        let acts = env.start(json!({}));
        let [(token, timer, due)] = timers(&acts)[..] else { panic!("a timeout timer: {acts:?}") };
        assert_eq!(due, 1_000 + 48 * 3600 * 1000);
        assert!(env.m.waits_for("manager-approval"));
        assert!(!env.m.waits_for("other"));
        let acts =
            env.apply(Event::SignalReceived { name: "manager-approval".into(), payload: json!({"decision": "yes"}) });
        assert_eq!(completed(&acts), Some(json!("yes")));
        assert!(env.apply(Event::TimerFired { token, timer }).is_empty());
    }

    #[test]
    fn wait_timeout_takes_the_timeout_branch() {
        let mut env = TestEnv::new(APPROVAL);
        let [(token, timer, _)] = timers(&env.start(json!({})))[..] else { panic!() };
        assert_eq!(completed(&env.apply(Event::TimerFired { token, timer })), Some(json!("expired")));
    }

    #[test]
    fn sleep_arms_a_durable_timer() {
        let yaml = "name: s\nsteps:\n  - id: nap\n    sleep: { for: 30s }\n  - id: after\n    plugin: p\n";
        let mut env = TestEnv::new(yaml);
        let [(token, timer, due)] = timers(&env.start(json!({})))[..] else { panic!() };
        assert_eq!(due, 31_000);
        assert_eq!(one_run(&env.apply(Event::TimerFired { token, timer })).step, "after");
    }

    #[test]
    fn call_starts_a_sub_process_and_continues_with_its_output() {
        let yaml = "name: c\nsteps:\n  - id: sub\n    call: { process: child, input: '{n: 1}' }\n";
        let mut env = TestEnv::new(yaml);
        let acts = env.start(json!({}));
        let Some(Action::StartChild { token, process, input, .. }) = acts.first().cloned() else { panic!("{acts:?}") };
        assert_eq!((process.as_str(), input), ("child", json!({"n": 1})));
        env.apply(Event::ChildStarted { token, step: "sub".into(), child: "kid".into() });
        let acts =
            env.apply(Event::ChildFinished { token, child: "kid".into(), output: Some(json!("ok")), error: None });
        assert_eq!(completed(&acts), Some(json!("ok")));
    }

    #[test]
    fn fail_ends_the_instance_with_its_code() {
        let yaml = "name: f\nsteps:\n  - id: no\n    fail: { code: rejected, message: nope }\n";
        let mut env = TestEnv::new(yaml);
        let e = failed(&env.start(json!({}))).expect("failed");
        assert_eq!((e.code.as_str(), e.message.as_str()), ("rejected", "nope"));
        assert_eq!(env.m.status(), InstanceStatus::Failed);
    }

    const SAGA: &str = r#"
name: saga
steps:
  - id: reserve
    plugin: stock
    undo: release
  - id: charge
    plugin: pay
    undo: refund
  - id: ship
    plugin: ship
    next: end
  - id: release
    plugin: stock
  - id: refund
    plugin: pay
"#;

    #[test]
    fn a_failure_runs_the_undos_of_completed_steps_in_reverse() {
        let mut env = TestEnv::new(SAGA);
        let reserve = one_run(&env.start(json!({})));
        let charge = one_run(&env.complete(&reserve, json!({"reservation": 1})));
        let ship = one_run(&env.complete(&charge, json!({"payment": 2})));
        let acts = env.fail(&ship, "business", "no-carrier", None);
        assert!(
            acts.contains(&Action::Record(Event::CompensationStarted {
                undo: vec!["refund".into(), "release".into()]
            }))
        );
        let refund = one_run(&acts);
        assert_eq!((refund.step.as_str(), &refund.input), ("refund", &json!({"payment": 2})));
        let release = one_run(&env.complete(&refund, json!("refunded")));
        assert_eq!(release.input, json!({"reservation": 1}));
        let e = failed(&env.complete(&release, json!("released"))).expect("failed after compensation");
        assert_eq!(e.code, "no-carrier");
    }

    #[test]
    fn replaying_the_journal_rebuilds_the_state_and_reruns_the_started_step() {
        let mut env = TestEnv::new(SAGA);
        let reserve = one_run(&env.start(json!({})));
        let charge = one_run(&env.complete(&reserve, json!({"r": 1})));
        // "Crash" while `charge` runs: a new machine replays the journal.
        let mut replayed = Machine::new(env.m.process().clone());
        for (e, at) in &env.journal {
            replayed.apply(e, *at);
        }
        let resumed = replayed.resume();
        assert_eq!(
            resumed,
            vec![Action::RunStep { token: charge.token, step: 1, attempt: 2, input: json!({"r": 1}) }],
            "reserve is never rerun; charge runs again as attempt 2"
        );
    }

    #[test]
    fn replay_rearms_timers_and_waits() {
        let mut env = TestEnv::new(APPROVAL);
        let [(token, timer, due)] = timers(&env.start(json!({})))[..] else { panic!() };
        let mut replayed = Machine::new(env.m.process().clone());
        for (e, at) in &env.journal {
            replayed.apply(e, *at);
        }
        assert_eq!(replayed.resume(), vec![Action::StartTimer { token, timer, due }]);
        assert!(replayed.waits_for("manager-approval"));
    }

    #[test]
    fn cancel_stops_everything() {
        let mut env = TestEnv::new(SEQUENCE);
        let a = one_run(&env.start(json!({"x": 1})));
        let acts = env.apply(Event::CancelRequested { reason: "by user".into() });
        assert!(acts.contains(&Action::Record(Event::Cancelled)));
        assert_eq!(env.m.status(), InstanceStatus::Cancelled);
        assert!(env.complete(&a, json!(1)).is_empty(), "a late completion changes nothing");
    }

    #[test]
    fn a_bad_expression_at_run_time_fails_the_instance_clearly() {
        let yaml = "name: x\nsteps:\n  - id: a\n    plugin: p\n    input: '.input.n + \"text\"'\n";
        let mut env = TestEnv::new(yaml);
        let e = failed(&env.start(json!({"n": 1}))).expect("failed");
        assert_eq!(e.code, "expression-failed");
        assert!(e.message.contains("step `a`"), "{}", e.message);
    }
}
