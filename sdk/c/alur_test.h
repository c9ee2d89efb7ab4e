/*
 * alur_test.h: a minimal unit-test harness for C step plugins, header only, native only (gcc or clang).
 * Include it from exactly one test file that also defines the tests:
 *
 *     #include "alur_test.h"
 *
 *     ALUR_TEST(greets_by_name) {
 *         cJSON *out = alur_test_run_ok("{\"name\": \"Ana\"}");
 *         CHECK(out != NULL);
 *         CHECK_STR_EQ(cJSON_GetObjectItem(out, "greeting")->valuestring, "Ana");
 *         cJSON_Delete(out);
 *     }
 *
 *     ALUR_TEST_MAIN()
 *
 * Each test starts with a reset fake host. The run prints one line per test and closes with
 * "N passed, N failed", exiting non-zero when any failed.
 */
#ifndef ALUR_TEST_H
#define ALUR_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alur_step_fake.h"

typedef void (*alur_test_fn)(void);

static struct {
    const char *names[512];
    alur_test_fn fns[512];
    int count;
    int failed_current;
} alur_tests;

static void alur_test_register(const char *name, alur_test_fn fn) {
    if (alur_tests.count == 512) {
        fprintf(stderr, "alur_test.h: more than 512 tests\n");
        exit(2);
    }
    alur_tests.names[alur_tests.count] = name;
    alur_tests.fns[alur_tests.count++] = fn;
}

static void alur_test_fail(const char *file, int line, const char *what) {
    printf("    %s:%d: %s\n", file, line, what);
    alur_tests.failed_current = 1;
}

/* Constructors run in definition order with gcc and clang, so tests run in the order they are written. */
#define ALUR_TEST(name)                                                                                        \
    static void name(void);                                                                                    \
    __attribute__((constructor)) static void name##_alur_register(void) { alur_test_register(#name, name); }   \
    static void name(void)

/* Each CHECK ends the test at its first failure. */
#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            alur_test_fail(__FILE__, __LINE__, "CHECK(" #cond ")");                                           \
            return;                                                                                            \
        }                                                                                                      \
    } while (0)

#define CHECK_INT_EQ(actual, expected)                                                                         \
    do {                                                                                                       \
        long long alur_a_ = (long long)(actual), alur_e_ = (long long)(expected);                              \
        if (alur_a_ != alur_e_) {                                                                              \
            char alur_msg_[256];                                                                               \
            snprintf(alur_msg_, sizeof alur_msg_, "%s == %lld, expected %lld", #actual, alur_a_, alur_e_);     \
            alur_test_fail(__FILE__, __LINE__, alur_msg_);                                                     \
            return;                                                                                            \
        }                                                                                                      \
    } while (0)

#define CHECK_STR_EQ(actual, expected)                                                                         \
    do {                                                                                                       \
        const char *alur_a_ = (actual), *alur_e_ = (expected);                                                 \
        if (alur_a_ == NULL || strcmp(alur_a_, alur_e_) != 0) {                                                \
            char alur_msg_[512];                                                                               \
            snprintf(alur_msg_, sizeof alur_msg_, "%s == \"%s\", expected \"%s\"", #actual,                    \
                     alur_a_ ? alur_a_ : "(null)", alur_e_);                                                   \
            alur_test_fail(__FILE__, __LINE__, alur_msg_);                                                     \
            return;                                                                                            \
        }                                                                                                      \
    } while (0)

/* Runs the step on input through the fake host; its parsed output (cJSON_Delete it), or NULL after reporting the
 * step's error. */
static cJSON *alur_test_run_ok(const char *input) {
    char *output = NULL;
    alur_error err;
    if (alur_fake_invoke(input, &output, &err) != ALUR_OK) {
        printf("    step failed: %s %s: %s\n", alur_error_kind_name(err.kind), err.code, err.message);
        alur_error_free(&err);
        return NULL;
    }
    cJSON *parsed = cJSON_Parse(output);
    if (parsed == NULL) printf("    step output is not JSON: %s\n", output);
    free(output);
    return parsed;
}

/* Runs the step on input, expecting an error of kind and code; its message (free() it), or NULL after reporting
 * what happened instead. */
static char *alur_test_run_err(const char *input, alur_error_kind kind, const char *code) {
    char *output = NULL;
    alur_error err;
    if (alur_fake_invoke(input, &output, &err) == ALUR_OK) {
        printf("    expected %s %s, the step succeeded with %s\n", alur_error_kind_name(kind), code, output);
        free(output);
        return NULL;
    }
    if (err.kind != kind || strcmp(err.code, code) != 0) {
        printf("    expected %s %s, got %s %s: %s\n", alur_error_kind_name(kind), code,
                alur_error_kind_name(err.kind), err.code, err.message);
        alur_error_free(&err);
        return NULL;
    }
    char *message = err.message;
    err.message = NULL;
    alur_error_free(&err);
    return message;
}

static int alur_test_main(void) {
    int passed = 0, failed = 0;
    for (int i = 0; i < alur_tests.count; i++) {
        alur_fake_reset();
        alur_tests.failed_current = 0;
        alur_tests.fns[i]();
        if (alur_tests.failed_current) {
            failed++;
            printf("FAIL %s\n", alur_tests.names[i]);
        } else {
            passed++;
            printf("ok   %s\n", alur_tests.names[i]);
        }
    }
    alur_fake_reset();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

#define ALUR_TEST_MAIN()                                                                                       \
    int main(void) { return alur_test_main(); }

#endif /* ALUR_TEST_H */
