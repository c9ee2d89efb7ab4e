/*
 * alur_step.c: the portable part of the C SDK (wasm and native alike): errors, JSON readers and writers,
 * checked arithmetic, kv-as-JSON, and alur_invoke, the parse/run/print cycle of one step call.
 */
#include "alur_step.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) n = 0;
    char *s = malloc((size_t)n + 1);
    if (s == NULL) return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, args);
    return s;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL) memcpy(d, s, n + 1);
    return d;
}

alur_status alur_fail(alur_error *err, alur_error_kind kind, const char *code, const char *fmt, ...) {
    alur_error_free(err);
    err->kind = kind;
    err->code = dup_str(code);
    va_list args;
    va_start(args, fmt);
    err->message = vformat(fmt, args);
    va_end(args);
    return ALUR_ERR;
}

alur_status alur_error_prefix(alur_error *err, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *prefix = vformat(fmt, args);
    va_end(args);
    const char *message = err->message != NULL ? err->message : "";
    if (prefix != NULL) {
        size_t a = strlen(prefix), b = strlen(message);
        char *joined = malloc(a + b + 1);
        if (joined != NULL) {
            memcpy(joined, prefix, a);
            memcpy(joined + a, message, b + 1);
            free(err->message);
            err->message = joined;
        }
        free(prefix);
    }
    return ALUR_ERR;
}

void alur_error_free(alur_error *err) {
    free(err->code);
    free(err->message);
    err->code = NULL;
    err->message = NULL;
    err->kind = ALUR_INTERNAL;
}

const char *alur_error_kind_name(alur_error_kind kind) {
    switch (kind) {
    case ALUR_INVALID_INPUT: return "invalid-input";
    case ALUR_BUSINESS: return "business";
    case ALUR_TRANSIENT: return "transient";
    case ALUR_INTERNAL: return "internal";
    }
    return "internal";
}

/* ---- JSON readers ---- */

static const char *type_name(const cJSON *v) {
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an unknown value";
}

alur_status alur_expect_object(const cJSON *value, const char *what, alur_error *err) {
    if (cJSON_IsObject(value)) return ALUR_OK;
    return alur_fail(err, ALUR_INVALID_INPUT, "invalid-field", "%s must be an object, not %s", what,
                     value == NULL ? "missing" : type_name(value));
}

/* The item under key, or NULL when absent or null; ALUR_ERR only for a required one. */
static alur_status lookup(const cJSON *obj, const char *key, alur_presence presence, const cJSON **item,
                          alur_error *err) {
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        *item = NULL;
        if (presence == ALUR_REQUIRED)
            return alur_fail(err, ALUR_INVALID_INPUT, "missing-field", "%s is required", key);
        return ALUR_OK;
    }
    *item = v;
    return ALUR_OK;
}

static alur_status wrong_type(const char *key, const char *expected, const cJSON *v, alur_error *err) {
    return alur_fail(err, ALUR_INVALID_INPUT, "invalid-field", "%s must be %s, not %s", key, expected, type_name(v));
}

alur_status alur_get_string(const cJSON *obj, const char *key, alur_presence presence, const char **out,
                            alur_error *err) {
    const cJSON *v;
    if (lookup(obj, key, presence, &v, err) != ALUR_OK) return ALUR_ERR;
    if (v == NULL) return ALUR_OK;
    if (!cJSON_IsString(v)) return wrong_type(key, "a string", v, err);
    *out = v->valuestring;
    return ALUR_OK;
}

alur_status alur_get_int(const cJSON *obj, const char *key, alur_presence presence, int64_t min, int64_t max,
                         int64_t *out, alur_error *err) {
    const cJSON *v;
    if (lookup(obj, key, presence, &v, err) != ALUR_OK) return ALUR_ERR;
    if (v == NULL) return ALUR_OK;
    if (min < -ALUR_JSON_MAX_SAFE_INT) min = -ALUR_JSON_MAX_SAFE_INT;
    if (max > ALUR_JSON_MAX_SAFE_INT) max = ALUR_JSON_MAX_SAFE_INT;
    // The range check comes before the cast: converting an out-of-range double to int64_t is undefined.
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!cJSON_IsNumber(v))
        return alur_fail(err, ALUR_INVALID_INPUT, "invalid-field",
                         "%s must be an integer from %" PRId64 " to %" PRId64 ", not %s", key, min, max, type_name(v));
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
        return alur_fail(err, ALUR_INVALID_INPUT, "invalid-field",
                         "%s must be an integer from %" PRId64 " to %" PRId64 ", not %.15g", key, min, max, d);
    *out = (int64_t)d;
    return ALUR_OK;
}

alur_status alur_get_number(const cJSON *obj, const char *key, alur_presence presence, double *out,
                            alur_error *err) {
    const cJSON *v;
    if (lookup(obj, key, presence, &v, err) != ALUR_OK) return ALUR_ERR;
    if (v == NULL) return ALUR_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return wrong_type(key, "a finite number", v, err);
    *out = v->valuedouble;
    return ALUR_OK;
}

alur_status alur_get_bool(const cJSON *obj, const char *key, alur_presence presence, bool *out, alur_error *err) {
    const cJSON *v;
    if (lookup(obj, key, presence, &v, err) != ALUR_OK) return ALUR_ERR;
    if (v == NULL) return ALUR_OK;
    if (!cJSON_IsBool(v)) return wrong_type(key, "true or false", v, err);
    *out = cJSON_IsTrue(v);
    return ALUR_OK;
}

alur_status alur_get_array(const cJSON *obj, const char *key, alur_presence presence, const cJSON **out,
                           alur_error *err) {
    const cJSON *v;
    if (lookup(obj, key, presence, &v, err) != ALUR_OK) return ALUR_ERR;
    if (v == NULL) return ALUR_OK;
    if (!cJSON_IsArray(v)) return wrong_type(key, "an array", v, err);
    *out = v;
    return ALUR_OK;
}

alur_status alur_get_object(const cJSON *obj, const char *key, alur_presence presence, const cJSON **out,
                            alur_error *err) {
    const cJSON *v;
    if (lookup(obj, key, presence, &v, err) != ALUR_OK) return ALUR_ERR;
    if (v == NULL) return ALUR_OK;
    if (!cJSON_IsObject(v)) return wrong_type(key, "an object", v, err);
    *out = v;
    return ALUR_OK;
}

/* ---- JSON writers ---- */

cJSON *alur_create_int(int64_t value) {
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, value);
    return cJSON_CreateRaw(text);
}

cJSON *alur_add_int(cJSON *obj, const char *key, int64_t value) {
    cJSON *item = alur_create_int(value);
    if (item == NULL) return NULL;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

/* ---- Checked arithmetic ---- */

bool alur_add_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool alur_sub_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool alur_mul_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

/* ---- Host helpers built on the primitives ---- */

alur_status alur_config_int(const char *key, int64_t min, int64_t max, int64_t *out, alur_error *err) {
    char *raw = alur_config_get(key);
    if (raw == NULL) return ALUR_OK;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(raw, &end, 10);
    bool ok = end != raw && *end == '\0' && errno == 0 && v >= min && v <= max;
    if (!ok) {
        alur_fail(err, ALUR_INTERNAL, "invalid-config",
                  "config %s must be an integer from %" PRId64 " to %" PRId64 ", not \"%s\"", key, min, max, raw);
        free(raw);
        return ALUR_ERR;
    }
    free(raw);
    *out = (int64_t)v;
    return ALUR_OK;
}

cJSON *alur_kv_get_json(const char *key) {
    uint8_t *value = NULL;
    size_t len = 0;
    if (!alur_kv_get(key, &value, &len)) return NULL;
    cJSON *parsed = cJSON_ParseWithLength((const char *)value, len);
    free(value);
    return parsed;
}

bool alur_kv_set_json(const char *key, const cJSON *value) {
    char *text = cJSON_PrintUnformatted(value);
    if (text == NULL) return false;
    alur_kv_set(key, text, strlen(text));
    free(text);
    return true;
}

/* ---- The runner ---- */

alur_status alur_invoke(const alur_ctx *ctx, const char *input, size_t len, char **output, alur_error *err) {
    err->kind = ALUR_INTERNAL;
    err->code = NULL;
    err->message = NULL;
    *output = NULL;

    const char *end = NULL;
    cJSON *in = cJSON_ParseWithLengthOpts(input, len, &end, 0);
    if (in == NULL) {
        size_t at = end != NULL && end >= input ? (size_t)(end - input) : 0;
        return alur_fail(err, ALUR_INVALID_INPUT, "invalid-json", "the input is not JSON (error at byte %zu)", at);
    }
    // cJSON stops after the first value; anything but whitespace after it makes the whole input invalid.
    for (const char *p = end; p < input + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(in);
            return alur_fail(err, ALUR_INVALID_INPUT, "invalid-json", "the input has text after its JSON value (byte %zu)",
                             (size_t)(p - input));
        }
    }

    cJSON *out = NULL;
    alur_status status = alur_run(ctx, in, &out, err);
    cJSON_Delete(in);
    if (status != ALUR_OK) {
        cJSON_Delete(out);
        if (err->code == NULL)
            alur_fail(err, ALUR_INTERNAL, "unreported-error", "the step failed without saying why (alur_run returned ALUR_ERR with no error set)");
        return ALUR_ERR;
    }
    if (out == NULL) {
        alur_error_free(err);
        return alur_fail(err, ALUR_INTERNAL, "no-output", "alur_run returned ALUR_OK without setting *output");
    }
    char *text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (text == NULL) {
        alur_error_free(err);
        return alur_fail(err, ALUR_INTERNAL, "unprintable-output", "the step's output could not be printed as JSON");
    }
    alur_error_free(err);
    *output = text;
    return ALUR_OK;
}
