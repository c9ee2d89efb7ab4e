/*
 * {{name}}: an Alur step plugin in C.
 *
 * This starting point prices a sales order: the total of its lines in integer cents, checked against a
 * credit limit from the step's config, with a count of priced orders kept in the plugin's kv state.
 *
 * Input:  {"order": {"id": "SO-1", "lines": [{"sku": "WID-1", "quantity": 2, "unit_price": 1250}]}}
 * Config: max_total (cents, optional): a larger total is a `business` error with code `over-limit`.
 * Output: {"order_id": "SO-1", "total": 2500, "lines": 1, "orders_priced": 1}
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "alur_step.h"

alur_status alur_run(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    (void)ctx;
    const cJSON *order = NULL, *lines = NULL;
    const char *id = NULL;
    if (alur_expect_object(input, "the input", err) != ALUR_OK ||
        alur_get_object(input, "order", ALUR_REQUIRED, &order, err) != ALUR_OK)
        return ALUR_ERR;
    if (alur_get_string(order, "id", ALUR_REQUIRED, &id, err) != ALUR_OK ||
        alur_get_array(order, "lines", ALUR_REQUIRED, &lines, err) != ALUR_OK)
        return alur_error_prefix(err, "order.");
    if (cJSON_GetArraySize(lines) == 0)
        return alur_fail(err, ALUR_INVALID_INPUT, "empty-order", "order %s has no lines", id);

    int64_t total = 0;
    int i = 0;
    const cJSON *line;
    cJSON_ArrayForEach(line, lines) {
        int64_t quantity = 0, unit_price = 0, amount = 0;
        char what[40];
        snprintf(what, sizeof what, "order.lines[%d]", i);
        if (alur_expect_object(line, what, err) != ALUR_OK) return ALUR_ERR;
        if (alur_get_int(line, "quantity", ALUR_REQUIRED, 1, ALUR_JSON_MAX_SAFE_INT, &quantity, err) != ALUR_OK ||
            alur_get_int(line, "unit_price", ALUR_REQUIRED, 0, ALUR_JSON_MAX_SAFE_INT, &unit_price, err) != ALUR_OK)
            return alur_error_prefix(err, "%s.", what);
        // Money is integer cents: checked arithmetic, because a wrapped total would be a wrong invoice.
        if (!alur_mul_i64(quantity, unit_price, &amount) || !alur_add_i64(total, amount, &total) ||
            total > ALUR_JSON_MAX_SAFE_INT)
            return alur_fail(err, ALUR_INVALID_INPUT, "overflow", "order %s totals more than %" PRId64 " cents", id,
                             ALUR_JSON_MAX_SAFE_INT);
        i++;
    }

    int64_t max_total = -1;
    if (alur_config_int("max_total", 0, ALUR_JSON_MAX_SAFE_INT, &max_total, err) != ALUR_OK) return ALUR_ERR;
    if (max_total >= 0 && total > max_total)
        return alur_fail(err, ALUR_BUSINESS, "over-limit", "order %s totals %" PRId64 " cents, over the limit of %" PRId64,
                         id, total, max_total);

    // A counter in kv: a step's writes become visible when its completion is committed, so a retried attempt
    // does not count twice.
    int64_t priced = 0;
    cJSON *count = alur_kv_get_json("orders-priced");
    if (cJSON_IsNumber(count)) priced = (int64_t)count->valuedouble;
    cJSON_Delete(count);
    priced++;
    cJSON *stored = alur_create_int(priced);
    if (stored == NULL || !alur_kv_set_json("orders-priced", stored)) {
        cJSON_Delete(stored);
        return alur_fail(err, ALUR_INTERNAL, "out-of-memory", "out of memory");
    }
    cJSON_Delete(stored);
    alur_log(ALUR_INFO, "order %s: %d lines, %" PRId64 " cents", id, i, total);

    cJSON *out = cJSON_CreateObject();
    if (out == NULL || cJSON_AddStringToObject(out, "order_id", id) == NULL || alur_add_int(out, "total", total) == NULL ||
        cJSON_AddNumberToObject(out, "lines", i) == NULL || alur_add_int(out, "orders_priced", priced) == NULL) {
        cJSON_Delete(out);
        return alur_fail(err, ALUR_INTERNAL, "out-of-memory", "out of memory");
    }
    *output = out;
    return ALUR_OK;
}
