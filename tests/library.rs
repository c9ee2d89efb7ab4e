//! The CRM/SCM process library (`examples/processes/`), every process through the HTTP API with its sample inputs.
