/* Native unit tests of scm-reorder-rule over the SDK's fake host: ./test.sh */
#include "alur_test.h"

static cJSON *po(cJSON *out, int i) { return cJSON_GetArrayItem(cJSON_GetObjectItem(out, "purchase_orders"), i); }
static cJSON *line(cJSON *out, int p, int l) { return cJSON_GetArrayItem(cJSON_GetObjectItem(po(out, p), "lines"), l); }
static long long num(cJSON *obj, const char *key) {
    cJSON *v = cJSON_GetObjectItem(obj, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -999;
}
static const char *str(cJSON *obj, const char *key) {
    cJSON *v = cJSON_GetObjectItem(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

ALUR_TEST(reorders_up_to_max_when_available_reaches_min) {
    // available = 3 + 2 - 0 = 5 == min, so order max - available = 15.
    cJSON *out = alur_test_run_ok(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 3, \"on_order\": 2, \"min\": 5, \"max\": 20, \"supplier\": \"acme\"}]}");
    CHECK(out != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(out, "reorder")));
    CHECK_STR_EQ(str(po(out, 0), "supplier"), "acme");
    CHECK_STR_EQ(str(line(out, 0, 0), "sku"), "A");
    CHECK_INT_EQ(num(line(out, 0, 0), "quantity"), 15);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(out, "skipped")), 0);
    cJSON_Delete(out);
}

ALUR_TEST(skips_items_above_min) {
    cJSON *out = alur_test_run_ok(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 6, \"on_order\": 0, \"min\": 5, \"max\": 20, \"supplier\": \"acme\"}]}");
    CHECK(out != NULL);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(out, "reorder")));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(out, "purchase_orders")), 0);
    cJSON *skip = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "skipped"), 0);
    CHECK_STR_EQ(str(skip, "sku"), "A");
    CHECK_STR_EQ(str(skip, "reason"), "above-min");
    cJSON_Delete(out);
}

ALUR_TEST(allocated_stock_does_not_count_as_available) {
    // 10 on hand but 6 allocated: available 4 <= min 5, so order 20 - 4 = 16.
    cJSON *out = alur_test_run_ok("{\"items\": [{\"sku\": \"A\", \"on_hand\": 10, \"on_order\": 0, \"allocated\": 6, "
                                  "\"min\": 5, \"max\": 20, \"supplier\": \"acme\"}]}");
    CHECK(out != NULL);
    CHECK_INT_EQ(num(line(out, 0, 0), "quantity"), 16);
    cJSON_Delete(out);
}

ALUR_TEST(over_allocation_reorders_the_whole_shortfall) {
    // available = 2 + 0 - 7 = -5: order 10 - (-5) = 15.
    cJSON *out = alur_test_run_ok("{\"items\": [{\"sku\": \"A\", \"on_hand\": 2, \"on_order\": 0, \"allocated\": 7, "
                                  "\"min\": 0, \"max\": 10, \"supplier\": \"acme\"}]}");
    CHECK(out != NULL);
    CHECK_INT_EQ(num(line(out, 0, 0), "quantity"), 15);
    cJSON_Delete(out);
}

ALUR_TEST(rounds_the_quantity_up_to_the_multiple) {
    // need 20 - 3 = 17, in cases of 6: 18. An exact multiple is not rounded further: need 12 in cases of 6 is 12.
    cJSON *out = alur_test_run_ok(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 3, \"on_order\": 0, \"min\": 5, \"max\": 20, \"multiple\": 6, \"supplier\": \"s\"},"
        "            {\"sku\": \"B\", \"on_hand\": 8, \"on_order\": 0, \"min\": 8, \"max\": 20, \"multiple\": 6, \"supplier\": \"s\"}]}");
    CHECK(out != NULL);
    CHECK_INT_EQ(num(line(out, 0, 0), "quantity"), 18);
    CHECK_INT_EQ(num(line(out, 0, 1), "quantity"), 12);
    cJSON_Delete(out);
}

ALUR_TEST(groups_lines_by_supplier_in_order_of_first_appearance) {
    cJSON *out = alur_test_run_ok(
        "{\"items\": ["
        "{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 2, \"supplier\": \"zeta\", \"unit_cost\": 100},"
        "{\"sku\": \"B\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 3, \"supplier\": \"alpha\", \"unit_cost\": 10},"
        "{\"sku\": \"C\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 4, \"supplier\": \"zeta\", \"unit_cost\": 5}]}");
    CHECK(out != NULL);
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(out, "purchase_orders")), 2);
    CHECK_STR_EQ(str(po(out, 0), "supplier"), "zeta");
    CHECK_STR_EQ(str(line(out, 0, 0), "sku"), "A");
    CHECK_STR_EQ(str(line(out, 0, 1), "sku"), "C");
    CHECK_INT_EQ(num(line(out, 0, 1), "amount"), 20);
    CHECK_INT_EQ(num(po(out, 0), "total"), 2 * 100 + 4 * 5);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(po(out, 0), "priced")));
    CHECK_STR_EQ(str(po(out, 1), "supplier"), "alpha");
    CHECK_INT_EQ(num(po(out, 1), "total"), 30);
    cJSON_Delete(out);
}

ALUR_TEST(a_line_without_unit_cost_is_unpriced) {
    cJSON *out = alur_test_run_ok(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 2, \"supplier\": \"s\", \"unit_cost\": 7},"
        "            {\"sku\": \"B\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 2, \"supplier\": \"s\"}]}");
    CHECK(out != NULL);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(line(out, 0, 1), "unit_cost")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(line(out, 0, 1), "amount")));
    CHECK_INT_EQ(num(po(out, 0), "total"), 14);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(po(out, 0), "priced")));
    cJSON_Delete(out);
}

ALUR_TEST(supplier_falls_back_to_config_then_skips) {
    const char *input = "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 5}]}";
    cJSON *out = alur_test_run_ok(input);
    CHECK(out != NULL);
    cJSON *skip = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "skipped"), 0);
    CHECK_STR_EQ(str(skip, "reason"), "no-supplier");
    CHECK_INT_EQ(num(skip, "quantity"), 5);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(out, "reorder")));
    cJSON_Delete(out);

    alur_fake_set_config("default_supplier", "house");
    out = alur_test_run_ok(input);
    CHECK(out != NULL);
    CHECK_STR_EQ(str(po(out, 0), "supplier"), "house");
    cJSON_Delete(out);
}

ALUR_TEST(nothing_to_add_at_max_is_skipped) {
    cJSON *out = alur_test_run_ok(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 5, \"on_order\": 0, \"min\": 5, \"max\": 5, \"supplier\": \"s\"}], \"currency\": \"EUR\"}");
    CHECK(out != NULL);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "skipped"), 0), "reason"), "at-max");
    CHECK_STR_EQ(str(out, "currency"), "EUR");
    cJSON_Delete(out);
}

ALUR_TEST(empty_items_reorder_nothing) {
    cJSON *out = alur_test_run_ok("{\"items\": []}");
    CHECK(out != NULL);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(out, "reorder")));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(out, "skipped")), 0);
    cJSON_Delete(out);
}

ALUR_TEST(logs_a_summary) {
    cJSON *out = alur_test_run_ok(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 5, \"supplier\": \"s\"}]}");
    CHECK(out != NULL);
    cJSON_Delete(out);
    alur_level level;
    CHECK_INT_EQ(alur_fake_log_count(), 1);
    CHECK_STR_EQ(alur_fake_log(0, &level), "1 items: 1 purchase orders, 1 lines, 0 skipped");
    CHECK_INT_EQ(level, ALUR_INFO);
}

/* ---- invalid input ---- */

ALUR_TEST(negative_counts_are_invalid_input) {
    char *msg = alur_test_run_err(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": -1, \"on_order\": 0, \"min\": 1, \"max\": 5}]}", ALUR_INVALID_INPUT,
        "invalid-field");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "items[0].on_hand must be an integer from 0 to 9007199254740991, not -1");
    free(msg);
}

ALUR_TEST(min_above_max_is_invalid_input) {
    char *msg = alur_test_run_err("{\"items\": [{\"sku\": \"A\", \"on_hand\": 1, \"on_order\": 0, \"min\": 6, \"max\": 5}]}",
                                  ALUR_INVALID_INPUT, "min-above-max");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "items[0] (A): min 6 is above max 5");
    free(msg);
}

ALUR_TEST(missing_or_empty_sku_is_invalid_input) {
    char *msg = alur_test_run_err("{\"items\": [{\"on_hand\": 1, \"on_order\": 0, \"min\": 1, \"max\": 5}]}",
                                  ALUR_INVALID_INPUT, "missing-field");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "items[0].sku is required");
    free(msg);
    msg = alur_test_run_err("{\"items\": [{\"sku\": \"\", \"on_hand\": 1, \"on_order\": 0, \"min\": 1, \"max\": 5}]}",
                            ALUR_INVALID_INPUT, "missing-field");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST(multiple_zero_is_invalid_input) {
    char *msg = alur_test_run_err(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 1, \"on_order\": 0, \"min\": 1, \"max\": 5, \"multiple\": 0}]}",
        ALUR_INVALID_INPUT, "invalid-field");
    CHECK(msg != NULL);
    CHECK(strstr(msg, "items[0].multiple") == msg);
    free(msg);
}

ALUR_TEST(wrong_types_are_invalid_input) {
    char *msg;
    CHECK((msg = alur_test_run_err("{\"items\": {}}", ALUR_INVALID_INPUT, "invalid-field")) != NULL);
    CHECK_STR_EQ(msg, "items must be an array, not an object");
    free(msg);
    CHECK((msg = alur_test_run_err("{\"items\": [7]}", ALUR_INVALID_INPUT, "invalid-field")) != NULL);
    CHECK_STR_EQ(msg, "items[0] must be an object, not a number");
    free(msg);
    CHECK((msg = alur_test_run_err("{\"items\": [{\"sku\": \"A\", \"on_hand\": \"3\", \"on_order\": 0, \"min\": 1, \"max\": 5}]}",
                                   ALUR_INVALID_INPUT, "invalid-field")) != NULL);
    free(msg);
    CHECK((msg = alur_test_run_err("{\"items\": [{\"sku\": \"A\", \"on_hand\": 2.5, \"on_order\": 0, \"min\": 1, \"max\": 5}]}",
                                   ALUR_INVALID_INPUT, "invalid-field")) != NULL);
    free(msg);
    CHECK((msg = alur_test_run_err("{}", ALUR_INVALID_INPUT, "missing-field")) != NULL);
    free(msg);
    CHECK((msg = alur_test_run_err("{\"items\": [], \"currency\": \"euro\"}", ALUR_INVALID_INPUT, "invalid-field")) != NULL);
    free(msg);
    CHECK((msg = alur_test_run_err("[1, 2", ALUR_INVALID_INPUT, "invalid-json")) != NULL);
    free(msg);
    CHECK((msg = alur_test_run_err("{} x", ALUR_INVALID_INPUT, "invalid-json")) != NULL);
    free(msg);
}

ALUR_TEST(duplicate_skus_are_invalid_input) {
    char *msg = alur_test_run_err(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 5},"
        "            {\"sku\": \"B\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 5},"
        "            {\"sku\": \"A\", \"on_hand\": 9, \"on_order\": 0, \"min\": 1, \"max\": 5}]}",
        ALUR_INVALID_INPUT, "duplicate-sku");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST(amounts_past_two_to_the_53_are_an_overflow_not_a_wrong_number) {
    // 3 * 4e15 = 1.2e16 > 2^53 - 1: every field is in range, the product is not.
    char *msg = alur_test_run_err(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 3, \"supplier\": \"s\", "
        "\"unit_cost\": 4000000000000000}]}",
        ALUR_INVALID_INPUT, "overflow");
    CHECK(msg != NULL);
    free(msg);
    // The quantity itself: max 2^53 - 1 with available -(2^53 - 1) needs 2^54 - 2 units.
    msg = alur_test_run_err(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"allocated\": 9007199254740991, \"min\": 1, "
        "\"max\": 9007199254740991, \"supplier\": \"s\"}]}",
        ALUR_INVALID_INPUT, "overflow");
    CHECK(msg != NULL);
    free(msg);
    // Two lines that fit alone but not together.
    msg = alur_test_run_err(
        "{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 1, \"supplier\": \"s\", \"unit_cost\": 5000000000000000},"
        "            {\"sku\": \"B\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 1, \"supplier\": \"s\", \"unit_cost\": 5000000000000000}]}",
        ALUR_INVALID_INPUT, "overflow");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST(large_exact_totals_print_every_digit) {
    // 2^53 - 1 = 9007199254740991 cents, printed exactly (a double would still hold it; the text must too).
    char *output = NULL;
    alur_error err;
    CHECK(alur_fake_invoke("{\"items\": [{\"sku\": \"A\", \"on_hand\": 0, \"on_order\": 0, \"min\": 1, \"max\": 1, "
                           "\"supplier\": \"s\", \"unit_cost\": 9007199254740991}]}",
                           &output, &err) == ALUR_OK);
    CHECK(strstr(output, "\"total\":9007199254740991") != NULL);
    free(output);
}

/* ---- issue mode ---- */

ALUR_TEST(issue_numbers_the_order_and_records_it) {
    alur_fake_set_config("mode", "issue");
    alur_ctx ctx = alur_fake_ctx("issue");
    ctx.instance_id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const char *input = "{\"purchase_order\": {\"supplier\": \"acme\", \"lines\": [{\"sku\": \"A\", \"quantity\": 4}],"
                        " \"total\": 1000, \"priced\": true}, \"index\": 1}";
    char *output = NULL;
    alur_error err;
    CHECK(alur_invoke(&ctx, input, strlen(input), &output, &err) == ALUR_OK);
    cJSON *out = cJSON_Parse(output);
    free(output);
    CHECK(out != NULL);
    CHECK_STR_EQ(str(out, "po_number"), "PO-0C1D2E3F4A5B-2");
    CHECK_STR_EQ(str(out, "status"), "issued");
    CHECK_STR_EQ(str(out, "supplier"), "acme");
    CHECK_INT_EQ(num(out, "total"), 1000);
    cJSON_Delete(out);
    size_t len;
    const char *stored = alur_fake_kv("po/PO-0C1D2E3F4A5B-2", &len);
    CHECK(stored != NULL);
    CHECK(strstr(stored, "\"po_number\":\"PO-0C1D2E3F4A5B-2\"") != NULL);
    CHECK_INT_EQ(alur_fake_kv_count(), 1);

    alur_fake_set_config("po_prefix", "REQ/");
    CHECK(alur_invoke(&ctx, input, strlen(input), &output, &err) == ALUR_OK);
    CHECK(strstr(output, "\"po_number\":\"REQ/0C1D2E3F4A5B-2\"") != NULL);
    free(output);
}

ALUR_TEST(issue_rejects_an_order_without_lines) {
    alur_fake_set_config("mode", "issue");
    char *msg = alur_test_run_err("{\"purchase_order\": {\"supplier\": \"acme\", \"lines\": [], \"total\": 0}, \"index\": 0}",
                                  ALUR_INVALID_INPUT, "invalid-field");
    CHECK(msg != NULL);
    free(msg);
    msg = alur_test_run_err("{\"purchase_order\": {\"lines\": [1], \"total\": 0}, \"index\": 0}", ALUR_INVALID_INPUT,
                            "missing-field");
    CHECK(msg != NULL);
    CHECK_STR_EQ(msg, "purchase_order.supplier is required");
    free(msg);
    CHECK_INT_EQ(alur_fake_kv_count(), 0);
}

ALUR_TEST(an_unknown_mode_is_a_config_error) {
    alur_fake_set_config("mode", "guess");
    char *msg = alur_test_run_err("{\"items\": []}", ALUR_INTERNAL, "invalid-config");
    CHECK(msg != NULL);
    free(msg);
}

ALUR_TEST_MAIN()
