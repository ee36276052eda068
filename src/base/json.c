// JSON helpers: a value's kind for messages, parsing and reading with one message per failure.
#include "base/json_impl.h"

const char *lector__json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

enum lector_status lector__json_parse(const char *data, size_t n, const char *name, int want,
                                      json_t **out, struct lector_error *err) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(data, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return lector__error_line(err, LECTOR_STATUS_FORMAT, name, je.line, je.column,
                                  "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
    if (want >= 0 && (int)json_typeof(root) != want) {
        enum lector_status st =
            lector__error(err, LECTOR_STATUS_FORMAT, "%s: expected a JSON %s, found %s", name,
                          want == JSON_ARRAY ? "array" : "object", lector__json_kind(root));
        json_decref(root);
        return st;
    }
    *out = root;
    return LECTOR_STATUS_OK;
}

enum lector_status lector__json_read(const char *path, size_t n_max, int want, json_t **out,
                                     struct lector_error *err) {
    *out = NULL;
    char *data = NULL;
    size_t n = 0;
    enum lector_status st = lector__read_file(path, n_max, &data, &n, err);
    if (st != LECTOR_STATUS_OK) return st;
    st = lector__json_parse(data, n, path, want, out, err);
    lector_free(data);
    return st;
}
