/* Native unit tests of {{name}}: ./test.sh (the host's C compiler, the SDK's fake host, no wasm). */
#include "alur_test.h"

static const char *ORDER = "{\"order\": {\"id\": \"SO-1\", \"lines\": ["
                           "{\"sku\": \"WID-1\", \"quantity\": 2, \"unit_price\": 1250},"
                           "{\"sku\": \"GAD-2\", \"quantity\": 1, \"unit_price\": 99}]}}";

ALUR_TEST(prices_the_order) {
    cJSON *out = alur_test_run_ok(ORDER);
    CHECK(out != NULL);
    CHECK_STR_EQ(cJSON_GetObjectItem(out, "order_id")->valuestring, "SO-1");
    CHECK_INT_EQ(cJSON_GetObjectItem(out, "total")->valuedouble, 2599);
    CHECK_INT_EQ(cJSON_GetObjectItem(out, "lines")->valuedouble, 2);
    cJSON_Delete(out);
    CHECK_INT_EQ(alur_fake_log_count(), 1);
    CHECK_STR_EQ(alur_fake_log(0, NULL), "order SO-1: 2 lines, 2599 cents");
}

ALUR_TEST(counts_priced_orders_in_kv) {
    cJSON *out = alur_test_run_ok(ORDER);
    CHECK(out != NULL);
    cJSON_Delete(out);
    out = alur_test_run_ok(ORDER);
    CHECK(out != NULL);
    CHECK_INT_EQ(cJSON_GetObjectItem(out, "orders_priced")->valuedouble, 2);
    cJSON_Delete(out);
    CHECK_STR_EQ(alur_fake_kv("orders-priced", NULL), "2");
}

ALUR_TEST(a_total_over_the_limit_is_a_business_error) {
    alur_fake_set_config("max_total", "2000");
    char *msg = alur_test_run_err(ORDER, ALUR_BUSINESS, "over-limit");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "order SO-1 totals 2599 cents, over the limit of 2000");
    free(msg);
    CHECK(alur_fake_kv("orders-priced", NULL) == NULL);
}

ALUR_TEST(bad_input_is_invalid_input) {
    char *msg = alur_test_run_err("{\"order\": {\"id\": \"SO-2\", \"lines\": [{\"sku\": \"A\", \"quantity\": 0, \"unit_price\": 1}]}}",
                                  ALUR_INVALID_INPUT, "invalid-field");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "order.lines[0].quantity must be an integer from 1 to 9007199254740991, not 0");
    free(msg);
    msg = alur_test_run_err("{\"order\": {\"id\": \"SO-3\", \"lines\": []}}", ALUR_INVALID_INPUT, "empty-order");
    CHECK(msg != NULL);
    free(msg);
    msg = alur_test_run_err("{\"order\": {\"lines\": []}}", ALUR_INVALID_INPUT, "missing-field");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "order.id is required");
    free(msg);
}

ALUR_TEST(a_bad_config_is_an_internal_error) {
    alur_fake_set_config("max_total", "lots");
    char *msg = alur_test_run_err(ORDER, ALUR_INTERNAL, "invalid-config");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST_MAIN()
