/*
 * scm-reorder-rule: min/max replenishment, written in C against the Alur C SDK (sdk/c/).
 *
 * Mode `rule` (the default) decides what to reorder and groups it into purchase orders, one per supplier.
 * Mode `issue` (config `mode: issue`) issues one of those purchase orders: it gives it a number and records it
 * in the plugin's kv state, so a process can run the rule and then issue each order in a for-each.
 *
 * ## Rule (mode `rule`)
 * Input:
 *   {"items": [{"sku": "WID-1", "on_hand": 4, "on_order": 0, "allocated": 1, "min": 5, "max": 20,
 *               "multiple": 6, "unit_cost": 250, "supplier": "acme"}, ...],
 *    "currency": "EUR"}
 * Per item: available = on_hand + on_order - allocated (allocated defaults to 0). When available <= min, the
 * item is reordered up to max: quantity = max - available, rounded up to a multiple of `multiple` (default 1).
 * Otherwise it is skipped. Counts are integers >= 0, min <= max, multiple >= 1, unit_cost is integer cents >= 0.
 * Output:
 *   {"reorder": true,
 *    "purchase_orders": [{"supplier": "acme", "lines": [{"sku", "quantity", "unit_cost", "amount"}],
 *                         "total": 4500, "priced": true}],
 *    "skipped": [{"sku": "GAD-2", "reason": "above-min"}],
 *    "currency": "EUR"}
 * Purchase orders come in the order their supplier first appears; lines in item order. A line without
 * unit_cost has unit_cost and amount null, and its order has "priced": false (total covers the priced lines).
 * Skip reasons: `above-min` (available > min), `at-max` (available == max, nothing to add), `no-supplier`
 * (needs `quantity` units but neither the item nor config `default_supplier` names a supplier).
 *
 * ## Issue (mode `issue`)
 * Input: {"purchase_order": <one of the rule's purchase orders>, "index": 0}
 * Output: the purchase order with "po_number" and "status": "issued"; kv key `po/<po_number>` holds it.
 * The number is <po_prefix><last 12 characters of the instance id>-<index + 1>, so a retried attempt and
 * concurrent iterations of one instance never collide and never need a shared counter.
 *
 * ## Errors
 * invalid-input: missing-field, invalid-field (wrong type, negative number, multiple 0), min-above-max,
 * duplicate-sku, overflow (a quantity, amount or total past 2^53 - 1, the largest integer JSON carries exactly).
 * internal: invalid-config (unknown mode).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alur_step.h"

#define MAX_INT ALUR_JSON_MAX_SAFE_INT

typedef struct item {
    size_t index;
    const char *sku;
    const char *supplier; /* NULL: none named and no default */
    int64_t quantity;     /* 0: not reordered */
    int64_t unit_cost;    /* -1: not given */
    const char *skip_reason;
} item;

/* a + b or a * b within [0, MAX_INT], the range every JSON consumer reads exactly. */
static bool add_safe(int64_t a, int64_t b, int64_t *out) {
    return alur_add_i64(a, b, out) && *out <= MAX_INT && *out >= -MAX_INT;
}
static bool mul_safe(int64_t a, int64_t b, int64_t *out) {
    return alur_mul_i64(a, b, out) && *out <= MAX_INT && *out >= -MAX_INT;
}

/* Reads and checks one item, and applies the min/max rule to it. */
static alur_status read_item(const cJSON *json, size_t index, const char *default_supplier, item *it,
                             alur_error *err) {
    int64_t on_hand = 0, on_order = 0, allocated = 0, min = 0, max = 0, multiple = 1, unit_cost = -1;
    const char *sku = NULL, *supplier = default_supplier;
    char what[32];
    snprintf(what, sizeof what, "items[%zu]", index);
    if (alur_expect_object(json, what, err) != ALUR_OK ||
        alur_get_string(json, "sku", ALUR_REQUIRED, &sku, err) != ALUR_OK ||
        alur_get_int(json, "on_hand", ALUR_REQUIRED, 0, MAX_INT, &on_hand, err) != ALUR_OK ||
        alur_get_int(json, "on_order", ALUR_REQUIRED, 0, MAX_INT, &on_order, err) != ALUR_OK ||
        alur_get_int(json, "allocated", ALUR_OPTIONAL, 0, MAX_INT, &allocated, err) != ALUR_OK ||
        alur_get_int(json, "min", ALUR_REQUIRED, 0, MAX_INT, &min, err) != ALUR_OK ||
        alur_get_int(json, "max", ALUR_REQUIRED, 0, MAX_INT, &max, err) != ALUR_OK ||
        alur_get_int(json, "multiple", ALUR_OPTIONAL, 1, MAX_INT, &multiple, err) != ALUR_OK ||
        alur_get_int(json, "unit_cost", ALUR_OPTIONAL, 0, MAX_INT, &unit_cost, err) != ALUR_OK ||
        alur_get_string(json, "supplier", ALUR_OPTIONAL, &supplier, err) != ALUR_OK)
        return cJSON_IsObject(json) ? alur_error_prefix(err, "items[%zu].", index) : ALUR_ERR;
    if (sku[0] == '\0')
        return alur_fail(err, ALUR_INVALID_INPUT, "missing-field", "items[%zu].sku must not be empty", index);
    if (min > max)
        return alur_fail(err, ALUR_INVALID_INPUT, "min-above-max",
                         "items[%zu] (%s): min %" PRId64 " is above max %" PRId64, index, sku, min, max);
    if (supplier != NULL && supplier[0] == '\0') supplier = default_supplier;

    *it = (item){.index = index, .sku = sku, .supplier = supplier, .unit_cost = unit_cost};
    // Inputs are at most 2^53 - 1, so these int64 sums cannot overflow; available may be negative when more is
    // allocated than is on hand and on order, and then the whole shortfall is reordered.
    int64_t available = on_hand + on_order - allocated;
    if (available > min) {
        it->skip_reason = "above-min";
        return ALUR_OK;
    }
    int64_t need = max - available;
    if (need == 0) {
        it->skip_reason = "at-max";
        return ALUR_OK;
    }
    int64_t rest = need % multiple;
    int64_t quantity = need;
    if (rest != 0 && !add_safe(need, multiple - rest, &quantity))
        return alur_fail(err, ALUR_INVALID_INPUT, "overflow",
                         "items[%zu] (%s): the quantity to order exceeds %" PRId64, index, sku, MAX_INT);
    if (quantity > MAX_INT)
        return alur_fail(err, ALUR_INVALID_INPUT, "overflow",
                         "items[%zu] (%s): the quantity to order exceeds %" PRId64, index, sku, MAX_INT);
    it->quantity = quantity;
    if (supplier == NULL) it->skip_reason = "no-supplier";
    return ALUR_OK;
}

static int by_sku(const void *a, const void *b) {
    return strcmp((*(const item *const *)a)->sku, (*(const item *const *)b)->sku);
}

/* Suppliers sort together; within one, items keep their input order. */
static int by_supplier_then_index(const void *a, const void *b) {
    const item *x = *(const item *const *)a, *y = *(const item *const *)b;
    int c = strcmp(x->supplier, y->supplier);
    if (c != 0) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

typedef struct group {
    size_t first; /* index of its first item, to order purchase orders by first appearance */
    size_t start, len;
} group;

static int by_first(const void *a, const void *b) {
    const group *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static alur_status out_of_memory(alur_error *err) {
    return alur_fail(err, ALUR_INTERNAL, "out-of-memory", "the step ran out of memory");
}

/* One purchase order from a run of lines with the same supplier. */
static alur_status build_order(item **lines, size_t count, cJSON *orders, alur_error *err) {
    cJSON *po = cJSON_CreateObject();
    cJSON *json_lines = cJSON_CreateArray();
    if (po == NULL || json_lines == NULL || !cJSON_AddItemToArray(orders, po)) {
        cJSON_Delete(po);
        cJSON_Delete(json_lines);
        return out_of_memory(err);
    }
    cJSON_AddStringToObject(po, "supplier", lines[0]->supplier);
    cJSON_AddItemToObject(po, "lines", json_lines);
    int64_t total = 0;
    bool priced = true;
    for (size_t i = 0; i < count; i++) {
        const item *it = lines[i];
        cJSON *line = cJSON_CreateObject();
        if (line == NULL || !cJSON_AddItemToArray(json_lines, line)) {
            cJSON_Delete(line);
            return out_of_memory(err);
        }
        cJSON_AddStringToObject(line, "sku", it->sku);
        alur_add_int(line, "quantity", it->quantity);
        if (it->unit_cost < 0) {
            priced = false;
            cJSON_AddNullToObject(line, "unit_cost");
            cJSON_AddNullToObject(line, "amount");
            continue;
        }
        int64_t amount;
        if (!mul_safe(it->quantity, it->unit_cost, &amount))
            return alur_fail(err, ALUR_INVALID_INPUT, "overflow",
                             "items[%zu] (%s): quantity %" PRId64 " x unit_cost %" PRId64 " exceeds %" PRId64,
                             it->index, it->sku, it->quantity, it->unit_cost, MAX_INT);
        if (!add_safe(total, amount, &total))
            return alur_fail(err, ALUR_INVALID_INPUT, "overflow",
                             "the purchase order for supplier %s totals more than %" PRId64, it->supplier, MAX_INT);
        alur_add_int(line, "unit_cost", it->unit_cost);
        alur_add_int(line, "amount", amount);
    }
    if (alur_add_int(po, "total", total) == NULL || cJSON_AddBoolToObject(po, "priced", priced) == NULL)
        return out_of_memory(err);
    return ALUR_OK;
}

static alur_status run_rule(const cJSON *input, cJSON **output, alur_error *err) {
    const cJSON *items = NULL;
    const char *currency = NULL;
    if (alur_expect_object(input, "the input", err) != ALUR_OK ||
        alur_get_array(input, "items", ALUR_REQUIRED, &items, err) != ALUR_OK ||
        alur_get_string(input, "currency", ALUR_OPTIONAL, &currency, err) != ALUR_OK)
        return ALUR_ERR;
    if (currency != NULL && (strlen(currency) != 3 || !isupper((unsigned char)currency[0]) ||
                             !isupper((unsigned char)currency[1]) || !isupper((unsigned char)currency[2])))
        return alur_fail(err, ALUR_INVALID_INPUT, "invalid-field",
                         "currency must be an ISO 4217 code such as \"EUR\", not \"%s\"", currency);
    char *default_supplier = alur_config_get("default_supplier");

    size_t n = (size_t)cJSON_GetArraySize(items);
    item *all = calloc(n ? n : 1, sizeof *all);
    item **order = calloc(n ? n : 1, sizeof *order);
    group *groups = calloc(n ? n : 1, sizeof *groups);
    cJSON *out = cJSON_CreateObject();
    cJSON *orders = cJSON_CreateArray();
    cJSON *skipped = cJSON_CreateArray();
    alur_status status = ALUR_OK;
    if (all == NULL || order == NULL || groups == NULL || out == NULL || orders == NULL || skipped == NULL) {
        status = out_of_memory(err);
        goto done;
    }

    size_t i = 0;
    const cJSON *json;
    cJSON_ArrayForEach(json, items) {
        if (read_item(json, i, default_supplier, &all[i], err) != ALUR_OK) {
            status = ALUR_ERR;
            goto done;
        }
        order[i] = &all[i];
        i++;
    }

    // Two items with one SKU would reorder the same stock twice.
    qsort(order, n, sizeof *order, by_sku);
    for (i = 1; i < n; i++) {
        if (strcmp(order[i - 1]->sku, order[i]->sku) == 0) {
            status = alur_fail(err, ALUR_INVALID_INPUT, "duplicate-sku", "sku %s appears more than once in items",
                               order[i]->sku);
            goto done;
        }
    }

    size_t lines = 0;
    for (i = 0; i < n; i++) {
        item *it = &all[i];
        if (it->skip_reason == NULL) {
            order[lines++] = it;
            continue;
        }
        cJSON *skip = cJSON_CreateObject();
        if (skip == NULL || !cJSON_AddItemToArray(skipped, skip)) {
            cJSON_Delete(skip);
            status = out_of_memory(err);
            goto done;
        }
        cJSON_AddStringToObject(skip, "sku", it->sku);
        cJSON_AddStringToObject(skip, "reason", it->skip_reason);
        if (it->quantity > 0) alur_add_int(skip, "quantity", it->quantity);
    }

    // Sorting keeps this O(n log n) however many suppliers there are; the groups are then put back in the order
    // their supplier first appeared, so the output follows the input.
    qsort(order, lines, sizeof *order, by_supplier_then_index);
    size_t ngroups = 0;
    for (i = 0; i < lines; i++) {
        if (i == 0 || strcmp(order[i - 1]->supplier, order[i]->supplier) != 0)
            groups[ngroups++] = (group){.first = order[i]->index, .start = i, .len = 0};
        groups[ngroups - 1].len++;
    }
    qsort(groups, ngroups, sizeof *groups, by_first);
    for (size_t g = 0; g < ngroups; g++) {
        if (build_order(order + groups[g].start, groups[g].len, orders, err) != ALUR_OK) {
            status = ALUR_ERR;
            goto done;
        }
    }

    cJSON_AddBoolToObject(out, "reorder", ngroups > 0);
    cJSON_AddItemToObject(out, "purchase_orders", orders);
    cJSON_AddItemToObject(out, "skipped", skipped);
    orders = skipped = NULL;
    if (currency != NULL) cJSON_AddStringToObject(out, "currency", currency);
    alur_log(ALUR_INFO, "%zu items: %zu purchase orders, %zu lines, %zu skipped", n, ngroups, lines, n - lines);
    *output = out;
    out = NULL;

done:
    cJSON_Delete(out);
    cJSON_Delete(orders);
    cJSON_Delete(skipped);
    free(groups);
    free(order);
    free(all);
    free(default_supplier);
    return status;
}

static alur_status run_issue(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    const cJSON *po = NULL, *lines = NULL;
    const char *supplier = NULL;
    int64_t index = 0, total = 0;
    if (alur_expect_object(input, "the input", err) != ALUR_OK ||
        alur_get_object(input, "purchase_order", ALUR_REQUIRED, &po, err) != ALUR_OK ||
        alur_get_int(input, "index", ALUR_REQUIRED, 0, 1000000, &index, err) != ALUR_OK)
        return ALUR_ERR;
    if (alur_get_string(po, "supplier", ALUR_REQUIRED, &supplier, err) != ALUR_OK ||
        alur_get_array(po, "lines", ALUR_REQUIRED, &lines, err) != ALUR_OK ||
        alur_get_int(po, "total", ALUR_REQUIRED, 0, MAX_INT, &total, err) != ALUR_OK)
        return alur_error_prefix(err, "purchase_order.");
    if (supplier[0] == '\0' || cJSON_GetArraySize(lines) == 0)
        return alur_fail(err, ALUR_INVALID_INPUT, "invalid-field",
                         "purchase_order needs a supplier and at least one line");

    char *prefix = alur_config_get("po_prefix");
    // The instance id's tail is random (UUIDv7), so it tells instances apart; the index tells apart the orders of
    // one instance. Both survive a retry, so a retried attempt issues the same number.
    char tail[13];
    size_t t = 0;
    for (size_t k = strlen(ctx->instance_id); k > 0 && t < 12; k--) {
        char c = ctx->instance_id[k - 1];
        if (isalnum((unsigned char)c)) tail[t++] = (char)toupper((unsigned char)c);
    }
    for (size_t a = 0, b = t ? t - 1 : 0; a < b; a++, b--) {
        char c = tail[a];
        tail[a] = tail[b];
        tail[b] = c;
    }
    tail[t] = '\0';
    char number[128];
    snprintf(number, sizeof number, "%s%s-%" PRId64, prefix != NULL ? prefix : "PO-", tail, index + 1);
    free(prefix);

    cJSON *issued = cJSON_Duplicate(po, 1);
    if (issued == NULL) return out_of_memory(err);
    cJSON_DeleteItemFromObjectCaseSensitive(issued, "po_number");
    cJSON_DeleteItemFromObjectCaseSensitive(issued, "status");
    cJSON_AddStringToObject(issued, "po_number", number);
    cJSON_AddStringToObject(issued, "status", "issued");

    char key[160];
    snprintf(key, sizeof key, "po/%s", number);
    if (!alur_kv_set_json(key, issued)) {
        cJSON_Delete(issued);
        return out_of_memory(err);
    }
    alur_log(ALUR_INFO, "issued %s to %s: %d lines, total %" PRId64, number, supplier, cJSON_GetArraySize(lines),
             total);
    *output = issued;
    return ALUR_OK;
}

alur_status alur_run(const alur_ctx *ctx, const cJSON *input, cJSON **output, alur_error *err) {
    char *mode = alur_config_get("mode");
    alur_status status;
    if (mode == NULL || strcmp(mode, "rule") == 0)
        status = run_rule(input, output, err);
    else if (strcmp(mode, "issue") == 0)
        status = run_issue(ctx, input, output, err);
    else
        status = alur_fail(err, ALUR_INTERNAL, "invalid-config", "config mode must be rule or issue, not \"%s\"", mode);
    free(mode);
    return status;
}
