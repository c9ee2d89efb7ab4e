//! Typed CRM and SCM records, so that plugins of one tenant share one vocabulary.
