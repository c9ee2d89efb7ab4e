/*
 * alur_step_wasm.c: the wasm side of the C SDK. Implements the `run` export and the host API over the bindings
 * that `alur-c bindings` generates (step.h, step.c, step_component_type.o) for the alur:step world.
 * Compiled only into the wasm component; native tests link alur_step_fake.c instead.
 */
#include "alur_step.h"
#include "step.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The canonical ABI hands strings over as (pointer, length) without a terminator; the SDK promises C strings. */
static char *to_cstr(const step_string_t *s) {
    char *c = malloc(s->len + 1);
    if (c == NULL) abort();
    memcpy(c, s->ptr, s->len);
    c[s->len] = '\0';
    return c;
}

/* A string whose bytes the bindings will free() after the call returns (post-return). */
static void give_string(step_string_t *ret, char *owned) {
    if (owned == NULL) owned = calloc(1, 1);
    if (owned == NULL) abort();
    ret->ptr = (uint8_t *)owned;
    ret->len = strlen(owned);
    // The bindings free only non-empty strings; an empty one would leak its one byte, so release it now.
    if (ret->len == 0) {
        free(owned);
        ret->ptr = NULL;
    }
}

bool exports_step_run(step_context_t *wit_ctx, step_string_t *input, step_string_t *ret, step_step_error_t *wit_err) {
    char *tenant = to_cstr(&wit_ctx->tenant);
    char *process = to_cstr(&wit_ctx->process);
    char *instance_id = to_cstr(&wit_ctx->instance_id);
    char *step_id = to_cstr(&wit_ctx->step_id);
    alur_ctx ctx = {
        .tenant = tenant,
        .process = process,
        .process_version = wit_ctx->process_version,
        .instance_id = instance_id,
        .step_id = step_id,
        .attempt = wit_ctx->attempt,
    };
    // The export owns its arguments (the canonical ABI allocated them with cabi_realloc).
    step_context_free(wit_ctx);

    char *output = NULL;
    alur_error err;
    alur_status status = alur_invoke(&ctx, (const char *)input->ptr, input->len, &output, &err);
    step_string_free(input);
    free(tenant);
    free(process);
    free(instance_id);
    free(step_id);

    if (status == ALUR_OK) {
        give_string(ret, output);
        return true;
    }
    wit_err->kind = (alur_step_types_error_kind_t)err.kind;
    give_string(&wit_err->code, err.code);
    give_string(&wit_err->message, err.message);
    return false;
}

void alur_log(alur_level level, const char *fmt, ...) {
    va_list args, copy;
    va_start(args, fmt);
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *line = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (line != NULL) {
        vsnprintf(line, (size_t)n + 1, fmt, args);
        step_string_t message = {(uint8_t *)line, (size_t)n};
        alur_step_host_log((alur_step_host_level_t)level, &message);
        free(line);
    }
    va_end(args);
}

char *alur_config_get(const char *key) {
    step_string_t k = {(uint8_t *)key, strlen(key)};
    step_string_t value;
    if (!alur_step_host_config(&k, &value)) return NULL;
    char *c = to_cstr(&value);
    step_string_free(&value);
    return c;
}

bool alur_kv_get(const char *key, uint8_t **value, size_t *len) {
    step_string_t k = {(uint8_t *)key, strlen(key)};
    step_list_u8_t bytes;
    if (!alur_step_host_kv_get(&k, &bytes)) return false;
    uint8_t *copy = malloc(bytes.len + 1);
    if (copy == NULL) abort();
    memcpy(copy, bytes.ptr, bytes.len);
    copy[bytes.len] = 0;
    *value = copy;
    *len = bytes.len;
    step_list_u8_free(&bytes);
    return true;
}

void alur_kv_set(const char *key, const void *value, size_t len) {
    step_string_t k = {(uint8_t *)key, strlen(key)};
    step_list_u8_t v = {(uint8_t *)value, len};
    alur_step_host_kv_set(&k, &v);
}

void alur_kv_delete(const char *key) {
    step_string_t k = {(uint8_t *)key, strlen(key)};
    alur_step_host_kv_delete(&k);
}
