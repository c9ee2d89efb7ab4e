/* Native tests of the C SDK itself (alur_step.c over the fake host): sdk/c/test.sh */
#include <math.h>

#include "alur_test.h"

/* Each test sets the step it wants alur_invoke to run. */
static alur_status (*step)(const alur_ctx *, const cJSON *, cJSON **, alur_error *);

alur_status alur_run(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    return step(ctx, input, output, err);
}

static alur_status echo(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    (void)ctx;
    (void)err;
    *output = cJSON_Duplicate(input, 1);
    return ALUR_OK;
}

static alur_status forgets_output(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    (void)ctx, (void)input, (void)output, (void)err;
    return ALUR_OK;
}

static alur_status fails_silently(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    (void)ctx, (void)input, (void)err;
    *output = cJSON_CreateObject(); /* half-built output: the SDK frees it */
    return ALUR_ERR;
}

static alur_status says_context(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    (void)input, (void)err;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "step", ctx->step_id);
    alur_add_int(out, "attempt", ctx->attempt);
    *output = out;
    return ALUR_OK;
}

ALUR_TEST(invoke_round_trips_json) {
    step = echo;
    cJSON *out = alur_test_run_ok("  {\"a\": [1, \"x\", null, true], \"b\": {\"c\": -2.5}}\n");
    CHECK(out != NULL);
    char *text = cJSON_PrintUnformatted(out);
    CHECK_STR_EQ(text, "{\"a\":[1,\"x\",null,true],\"b\":{\"c\":-2.5}}");
    free(text);
    cJSON_Delete(out);
}

ALUR_TEST(invoke_passes_the_context) {
    step = says_context;
    cJSON *out = alur_test_run_ok("{}");
    CHECK(out != NULL);
    CHECK_STR_EQ(cJSON_GetObjectItem(out, "step")->valuestring, "step");
    CHECK_INT_EQ(cJSON_GetObjectItem(out, "attempt")->valuedouble, 1);
    cJSON_Delete(out);
}

ALUR_TEST(input_that_is_not_json_is_invalid_input) {
    step = echo;
    const char *bad[] = {"", "{", "{\"a\": }", "nul", "{} {}", "[1] x", "\"unterminated"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *msg = alur_test_run_err(bad[i], ALUR_INVALID_INPUT, "invalid-json");
        CHECK(msg != NULL);
        free(msg);
    }
}

ALUR_TEST(input_need_not_be_nul_terminated) {
    step = echo;
    const char buf[] = {'[', '7', ']', '!', '!'};
    alur_ctx ctx = alur_fake_ctx("s");
    char *output = NULL;
    alur_error err;
    CHECK(alur_invoke(&ctx, buf, 3, &output, &err) == ALUR_OK);
    CHECK_STR_EQ(output, "[7]");
    free(output);
}

ALUR_TEST(nesting_past_the_limit_is_invalid_input) {
    step = echo;
    size_t depth = CJSON_NESTING_LIMIT + 1;
    char *deep = malloc(2 * depth + 1);
    CHECK(deep != NULL);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    char *msg = alur_test_run_err(deep, ALUR_INVALID_INPUT, "invalid-json");
    free(deep);
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST(ok_without_output_is_an_internal_error) {
    step = forgets_output;
    char *msg = alur_test_run_err("{}", ALUR_INTERNAL, "no-output");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST(err_without_an_error_is_an_internal_error) {
    step = fails_silently;
    char *msg = alur_test_run_err("{}", ALUR_INTERNAL, "unreported-error");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST(int_reader_takes_exact_integers_in_range) {
    cJSON *obj = cJSON_Parse("{\"a\": 12, \"b\": 12.0, \"c\": 12.5, \"d\": \"12\", \"e\": 1e300, \"f\": -3, "
                             "\"g\": 9007199254740991, \"h\": 9007199254740993, \"n\": null}");
    CHECK(obj != NULL);
    alur_error err = {0};
    int64_t v = -1;
    CHECK(alur_get_int(obj, "a", ALUR_REQUIRED, 0, 100, &v, &err) == ALUR_OK && v == 12);
    CHECK(alur_get_int(obj, "b", ALUR_REQUIRED, 0, 100, &v, &err) == ALUR_OK && v == 12);
    CHECK(alur_get_int(obj, "c", ALUR_REQUIRED, 0, 100, &v, &err) == ALUR_ERR);
    CHECK_STR_EQ(err.message, "c must be an integer from 0 to 100, not 12.5");
    CHECK(alur_get_int(obj, "d", ALUR_REQUIRED, 0, 100, &v, &err) == ALUR_ERR);
    CHECK_STR_EQ(err.message, "d must be an integer from 0 to 100, not a string");
    CHECK(alur_get_int(obj, "e", ALUR_REQUIRED, INT64_MIN, INT64_MAX, &v, &err) == ALUR_ERR);
    CHECK(alur_get_int(obj, "f", ALUR_REQUIRED, 0, 100, &v, &err) == ALUR_ERR);
    CHECK(alur_get_int(obj, "f", ALUR_REQUIRED, -5, 100, &v, &err) == ALUR_OK && v == -3);
    CHECK(alur_get_int(obj, "g", ALUR_REQUIRED, 0, INT64_MAX, &v, &err) == ALUR_OK && v == ALUR_JSON_MAX_SAFE_INT);
    // Past 2^53 a double no longer holds every integer, so the reader refuses rather than round.
    CHECK(alur_get_int(obj, "h", ALUR_REQUIRED, 0, INT64_MAX, &v, &err) == ALUR_ERR);
    CHECK_STR_EQ(err.code, "invalid-field");
    v = 77;
    CHECK(alur_get_int(obj, "n", ALUR_OPTIONAL, 0, 100, &v, &err) == ALUR_OK && v == 77);
    CHECK(alur_get_int(obj, "missing", ALUR_OPTIONAL, 0, 100, &v, &err) == ALUR_OK && v == 77);
    CHECK(alur_get_int(obj, "n", ALUR_REQUIRED, 0, 100, &v, &err) == ALUR_ERR);
    CHECK_STR_EQ(err.code, "missing-field");
    CHECK_STR_EQ(err.message, "n is required");
    alur_error_free(&err);
    cJSON_Delete(obj);
}

ALUR_TEST(other_readers_check_types) {
    cJSON *obj = cJSON_Parse("{\"s\": \"x\", \"n\": 1.5, \"b\": false, \"a\": [], \"o\": {}}");
    CHECK(obj != NULL);
    alur_error err = {0};
    const char *s = NULL;
    double d = 0;
    bool b = true;
    const cJSON *a = NULL, *o = NULL;
    CHECK(alur_get_string(obj, "s", ALUR_REQUIRED, &s, &err) == ALUR_OK);
    CHECK_STR_EQ(s, "x");
    CHECK(alur_get_number(obj, "n", ALUR_REQUIRED, &d, &err) == ALUR_OK && d == 1.5);
    CHECK(alur_get_bool(obj, "b", ALUR_REQUIRED, &b, &err) == ALUR_OK && !b);
    CHECK(alur_get_array(obj, "a", ALUR_REQUIRED, &a, &err) == ALUR_OK && cJSON_IsArray(a));
    CHECK(alur_get_object(obj, "o", ALUR_REQUIRED, &o, &err) == ALUR_OK && cJSON_IsObject(o));
    CHECK(alur_get_string(obj, "n", ALUR_REQUIRED, &s, &err) == ALUR_ERR);
    CHECK_STR_EQ(err.message, "n must be a string, not a number");
    CHECK(alur_get_bool(obj, "s", ALUR_REQUIRED, &b, &err) == ALUR_ERR);
    CHECK(alur_get_array(obj, "o", ALUR_REQUIRED, &a, &err) == ALUR_ERR);
    CHECK_STR_EQ(err.message, "o must be an array, not an object");
    CHECK(alur_get_object(obj, "a", ALUR_REQUIRED, &o, &err) == ALUR_ERR);
    CHECK(alur_expect_object(a, "the input", &err) == ALUR_ERR);
    CHECK_STR_EQ(err.message, "the input must be an object, not an array");
    CHECK(alur_error_prefix(&err, "items[%d]: ", 4) == ALUR_ERR);
    CHECK_STR_EQ(err.message, "items[4]: the input must be an object, not an array");
    alur_error_free(&err);
    CHECK(err.code == NULL && err.message == NULL);
    cJSON_Delete(obj);
}

ALUR_TEST(ints_print_exactly_past_two_to_the_53) {
    cJSON *obj = cJSON_CreateObject();
    CHECK(alur_add_int(obj, "max", INT64_MAX) != NULL);
    CHECK(alur_add_int(obj, "min", INT64_MIN) != NULL);
    cJSON_AddItemToObject(obj, "list", cJSON_CreateArray());
    cJSON_AddItemToArray(cJSON_GetObjectItem(obj, "list"), alur_create_int(9007199254740993));
    char *text = cJSON_PrintUnformatted(obj);
    CHECK_STR_EQ(text, "{\"max\":9223372036854775807,\"min\":-9223372036854775808,\"list\":[9007199254740993]}");
    free(text);
    cJSON_Delete(obj);
}

ALUR_TEST(checked_arithmetic_refuses_to_wrap) {
    int64_t r = 5;
    CHECK(alur_add_i64(INT64_MAX - 1, 1, &r) && r == INT64_MAX);
    CHECK(!alur_add_i64(INT64_MAX, 1, &r) && r == INT64_MAX);
    CHECK(!alur_sub_i64(INT64_MIN, 1, &r));
    CHECK(alur_sub_i64(0, INT64_MAX, &r) && r == -INT64_MAX);
    CHECK(!alur_mul_i64(INT64_C(1) << 32, INT64_C(1) << 31, &r));
    CHECK(alur_mul_i64(-(INT64_C(1) << 31), INT64_C(1) << 32, &r) && r == INT64_MIN);
}

ALUR_TEST(config_int_parses_or_reports_the_definition) {
    alur_error err = {0};
    int64_t v = 9;
    CHECK(alur_config_int("absent", 0, 10, &v, &err) == ALUR_OK && v == 9);
    alur_fake_set_config("limit", "7");
    CHECK(alur_config_int("limit", 0, 10, &v, &err) == ALUR_OK && v == 7);
    const char *bad[] = {"11", "-1", "7x", "", " ", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        alur_fake_set_config("limit", bad[i]);
        CHECK(alur_config_int("limit", 0, 10, &v, &err) == ALUR_ERR);
        CHECK(err.kind == ALUR_INTERNAL);
        CHECK_STR_EQ(err.code, "invalid-config");
    }
    CHECK(v == 7);
    alur_error_free(&err);
}

ALUR_TEST(kv_holds_bytes_and_json) {
    uint8_t *value = NULL;
    size_t len = 0;
    CHECK(!alur_kv_get("k", &value, &len));
    alur_kv_set("k", "a\0b", 3);
    CHECK(alur_kv_get("k", &value, &len));
    CHECK(len == 3 && memcmp(value, "a\0b", 3) == 0 && value[3] == 0);
    free(value);
    CHECK(alur_kv_get_json("k") == NULL); /* not JSON */

    cJSON *doc = cJSON_Parse("{\"n\": 3}");
    CHECK(alur_kv_set_json("j", doc));
    cJSON_Delete(doc);
    CHECK_STR_EQ(alur_fake_kv("j", NULL), "{\"n\":3}");
    doc = alur_kv_get_json("j");
    CHECK(doc != NULL && cJSON_GetObjectItem(doc, "n")->valuedouble == 3);
    cJSON_Delete(doc);

    alur_kv_delete("k");
    alur_kv_delete("never-set");
    CHECK(alur_fake_kv("k", NULL) == NULL);
    CHECK_INT_EQ(alur_fake_kv_count(), 1);
}

ALUR_TEST(logs_keep_level_and_text) {
    alur_log(ALUR_WARN, "%d of %s", 3, "x");
    alur_log(ALUR_DEBUG, "plain");
    alur_level level;
    CHECK_INT_EQ(alur_fake_log_count(), 2);
    CHECK_STR_EQ(alur_fake_log(0, &level), "3 of x");
    CHECK(level == ALUR_WARN);
    CHECK_STR_EQ(alur_fake_log(1, &level), "plain");
    CHECK(alur_fake_log(2, &level) == NULL);
}

ALUR_TEST(error_kinds_have_their_wit_names) {
    CHECK_STR_EQ(alur_error_kind_name(ALUR_INVALID_INPUT), "invalid-input");
    CHECK_STR_EQ(alur_error_kind_name(ALUR_BUSINESS), "business");
    CHECK_STR_EQ(alur_error_kind_name(ALUR_TRANSIENT), "transient");
    CHECK_STR_EQ(alur_error_kind_name(ALUR_INTERNAL), "internal");
}

ALUR_TEST_MAIN()
