/*
 * alur_step_fake.h: the fake host for native unit tests of a C step plugin. Link alur_step_fake.c instead of
 * alur_step_wasm.c and the plugin's alur_log/alur_config_get/alur_kv_* calls land here, where a test sets config
 * and inspects kv state and log lines.
 */
#ifndef ALUR_STEP_FAKE_H
#define ALUR_STEP_FAKE_H

#include "alur_step.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Forgets all config, kv entries and log lines. */
void alur_fake_reset(void);

/* Sets (or, with value NULL, removes) a config key as the process definition's `config:` block would. */
void alur_fake_set_config(const char *key, const char *value);

/* The current kv value of key (NUL-terminated, owned by the fake; valid until the next kv call), or NULL. */
const char *alur_fake_kv(const char *key, size_t *len);

/* How many kv entries exist. */
size_t alur_fake_kv_count(void);

/* The number of log lines written so far, and line i (owned by the fake) with its level. */
size_t alur_fake_log_count(void);
const char *alur_fake_log(size_t i, alur_level *level);

/* A context like the host's for a first attempt of step `step_id` in tenant "test", process "test". */
alur_ctx alur_fake_ctx(const char *step_id);

/* alur_invoke with alur_fake_ctx("step") on a NUL-terminated JSON input. */
alur_status alur_fake_invoke(const char *input, char **output, alur_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ALUR_STEP_FAKE_H */
