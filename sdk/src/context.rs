//! The context a step runs in.

use crate::bindings::alur::step::types as wit;

/// Where a step runs: tenant, process version, instance, step and attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The tenant that owns the process.
    pub tenant: String,
    /// The process definition's name.
    pub process: String,
    /// The deployed version of the process definition.
    pub process_version: u32,
    /// The process instance this step belongs to.
    pub instance_id: String,
    /// The step's id in the definition.
    pub step_id: String,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
}

impl Context {
    /// A context for unit tests of a step: tenant `test`, process `test`, first attempt.
    pub fn for_test(step_id: &str) -> Self {
        Context {
            tenant: "test".into(),
            process: "test".into(),
            process_version: 1,
            instance_id: "test-instance".into(),
            step_id: step_id.into(),
            attempt: 1,
        }
    }
}

impl From<wit::Context> for Context {
    fn from(c: wit::Context) -> Self {
        Context {
            tenant: c.tenant,
            process: c.process,
            process_version: c.process_version,
            instance_id: c.instance_id,
            step_id: c.step_id,
            attempt: c.attempt,
        }
    }
}
