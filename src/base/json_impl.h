// JSON helpers over jansson for the readers of configuration and index files: the name of a
// value's kind for messages, and reading and parsing a file with one message for each failure.
#ifndef LECTOR_BASE_JSON_IMPL_H
#define LECTOR_BASE_JSON_IMPL_H

#include <jansson.h>

#include "base/base_impl.h"

/* "an object", "an array", "a string", "an integer", "a real number", "true", "false",
 * "null": what a message says was found. */
const char *lector__json_kind(const json_t *v);

/* Parse n bytes of JSON (duplicate keys refused) into *out (json_decref). A syntax error is
 * LECTOR_STATUS_FORMAT located at its line and column of name ("name:line:col: invalid
 * JSON: ..."). With want >= 0 (JSON_OBJECT, JSON_ARRAY) a root of another kind is
 * LECTOR_STATUS_FORMAT too ("name: expected a JSON object, found an array"). */
enum lector_status lector__json_parse(const char *data, size_t n, const char *name, int want,
                                      json_t **out, struct lector_error *err);

/* lector__read_file(path, n_max) then lector__json_parse of its bytes. */
enum lector_status lector__json_read(const char *path, size_t n_max, int want, json_t **out,
                                     struct lector_error *err);

#endif /* LECTOR_BASE_JSON_IMPL_H */
