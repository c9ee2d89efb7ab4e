/*
 * alur_step_fake.c: the host API served in process, for native unit tests (see alur_step_fake.h). Linear
 * lists are enough: a test holds a handful of keys, and keeping it simple keeps the fake obviously right.
 */
#include "alur_step_fake.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *key;
    char *value;
    size_t len;
} entry;

typedef struct table {
    entry *items;
    size_t count, cap;
} table;

typedef struct log_line {
    alur_level level;
    char *text;
} log_line;

static table config, kv;
static log_line *logs;
static size_t log_count, log_cap;

static void *xrealloc(void *p, size_t n) {
    void *r = realloc(p, n);
    if (r == NULL) {
        fprintf(stderr, "alur fake host: out of memory\n");
        abort();
    }
    return r;
}

static char *copy_bytes(const void *bytes, size_t len) {
    char *c = xrealloc(NULL, len + 1);
    memcpy(c, bytes, len);
    c[len] = '\0';
    return c;
}

static entry *find(table *t, const char *key) {
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->items[i].key, key) == 0) return &t->items[i];
    return NULL;
}

static void put(table *t, const char *key, const void *value, size_t len) {
    entry *e = find(t, key);
    if (e != NULL) {
        free(e->value);
    } else {
        if (t->count == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 8;
            t->items = xrealloc(t->items, t->cap * sizeof *t->items);
        }
        e = &t->items[t->count++];
        e->key = copy_bytes(key, strlen(key));
    }
    e->value = copy_bytes(value, len);
    e->len = len;
}

static void drop(table *t, const char *key) {
    entry *e = find(t, key);
    if (e == NULL) return;
    free(e->key);
    free(e->value);
    *e = t->items[--t->count];
}

static void clear(table *t) {
    for (size_t i = 0; i < t->count; i++) {
        free(t->items[i].key);
        free(t->items[i].value);
    }
    free(t->items);
    *t = (table){0};
}

void alur_fake_reset(void) {
    clear(&config);
    clear(&kv);
    for (size_t i = 0; i < log_count; i++) free(logs[i].text);
    free(logs);
    logs = NULL;
    log_count = log_cap = 0;
}

void alur_fake_set_config(const char *key, const char *value) {
    if (value == NULL)
        drop(&config, key);
    else
        put(&config, key, value, strlen(value));
}

const char *alur_fake_kv(const char *key, size_t *len) {
    entry *e = find(&kv, key);
    if (e == NULL) return NULL;
    if (len != NULL) *len = e->len;
    return e->value;
}

size_t alur_fake_kv_count(void) { return kv.count; }

size_t alur_fake_log_count(void) { return log_count; }

const char *alur_fake_log(size_t i, alur_level *level) {
    if (i >= log_count) return NULL;
    if (level != NULL) *level = logs[i].level;
    return logs[i].text;
}

alur_ctx alur_fake_ctx(const char *step_id) {
    return (alur_ctx){
        .tenant = "test",
        .process = "test",
        .process_version = 1,
        .instance_id = "00000000-0000-0000-0000-000000000000",
        .step_id = step_id,
        .attempt = 1,
    };
}

alur_status alur_fake_invoke(const char *input, char **output, alur_error *err) {
    alur_ctx ctx = alur_fake_ctx("step");
    return alur_invoke(&ctx, input, strlen(input), output, err);
}

/* ---- the host API ---- */

void alur_log(alur_level level, const char *fmt, ...) {
    va_list args, copy;
    va_start(args, fmt);
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *line = xrealloc(NULL, n > 0 ? (size_t)n + 1 : 1);
    vsnprintf(line, n > 0 ? (size_t)n + 1 : 1, fmt, args);
    va_end(args);
    if (log_count == log_cap) {
        log_cap = log_cap ? log_cap * 2 : 8;
        logs = xrealloc(logs, log_cap * sizeof *logs);
    }
    logs[log_count++] = (log_line){level, line};
}

char *alur_config_get(const char *key) {
    entry *e = find(&config, key);
    return e == NULL ? NULL : copy_bytes(e->value, e->len);
}

bool alur_kv_get(const char *key, uint8_t **value, size_t *len) {
    entry *e = find(&kv, key);
    if (e == NULL) return false;
    *value = (uint8_t *)copy_bytes(e->value, e->len);
    *len = e->len;
    return true;
}

void alur_kv_set(const char *key, const void *value, size_t len) { put(&kv, key, value, len); }

void alur_kv_delete(const char *key) { drop(&kv, key); }
