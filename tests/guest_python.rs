//! The Python guest: its SDK helper, template and plugin, through `alur step run` and the HTTP API.
