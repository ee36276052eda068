// Labelled rows from CSV files (the dialect is described in include/lector/data.h).
//
// libcsv does the RFC 4180 parsing; this file adds what it lacks: line numbers, the header,
// column selection, BOM handling, a bound on field size and error messages. The input is
// streamed in chunks, and each chunk is handed to libcsv one line at a time (split after
// every CR or LF), so when a callback fires we know the line it belongs to: libcsv can only
// end a row on a CR or LF, which is always the last byte of a piece we fed it.
#include "lector/data.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <csv.h>

#include "base/base_impl.h"

#define CSV_CHUNK_BYTES ((size_t)1 << 16)
#define CSV_FIELD_MAX_DEFAULT ((size_t)64 << 20)
// libcsv grows its field buffer by a fixed block; we raise the block as the buffer grows
// (at most this far at a time) so a long field costs O(log n) reallocations, not O(n).
#define CSV_BLOCK_MAX ((size_t)8 << 20)

enum lector_status lector__dataset_parse_csv_buffer(const char *name, const void *data, size_t n,
                                                    const char *text_column,
                                                    const char *label_column,
                                                    size_t n_field_max,
                                                    struct lector_dataset **out,
                                                    struct lector_error *err);

struct csv_reader {
    const char *name;         // file name for messages
    const char *want_text;    // column names asked for
    const char *want_label;   // may be NULL
    size_t n_field_max;       // longest field accepted, in bytes
    struct csv_parser parser;
    bool parser_live;         // csv_init succeeded: csv_free needed

    // header
    bool have_header;
    char **header;            // (n_header) column names
    size_t n_header, header_cap;
    int64_t col_text, col_label;  // selected column indices, -1 = none

    // current row
    size_t n_fields;          // fields completed so far in the current row
    char *cur_text;
    size_t cur_text_len;
    char *cur_label;

    // position: we count lines ourselves in the bytes we feed libcsv
    bool started;             // the first bytes (BOM check) have been seen
    int64_t line;             // line of the next byte to be fed (1-based)
    int64_t col;              // bytes of that line already fed
    bool prev_cr;             // last byte fed was CR (CRLF counts as one line break)
    int64_t piece_line;       // line of the piece being parsed right now
    bool between_rows;        // libcsv is waiting for a new row
    int64_t row_line;         // line where the current row starts
    int64_t field_line;       // line where the current field starts

    // output
    struct lector_dataset *ds;
    size_t rows_cap;

    enum lector_status status;
    struct lector_error *err;
};

// ----------------------------------------------------------------------------
// helpers

static bool is_line_break(unsigned char c) { return c == '\r' || c == '\n'; }

// libcsv trims spaces and tabs around unquoted fields by default; RFC 4180 says they are
// part of the field, and a text classifier should see the text as written.
static int no_space(unsigned char c) {
    (void)c;
    return 0;
}

// Append s (n bytes) to buf[*len] with control bytes escaped (\t, \xHH). When the buffer is
// full, end it with "..." and set *len = cap so that later calls append nothing. Invariant
// while not full: *len + 4 <= cap (room for "..." and the NUL); buf stays NUL-terminated.
static void append_escaped(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
    for (size_t i = 0; i < n && *len < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '\t') snprintf(tmp, sizeof tmp, "\\t");
        else if (c == '\r') snprintf(tmp, sizeof tmp, "\\r");
        else if (c == '\n') snprintf(tmp, sizeof tmp, "\\n");
        else if (c < 0x20 || c == 0x7f) snprintf(tmp, sizeof tmp, "\\x%02X", c);
        else {
            tmp[0] = (char)c;
            tmp[1] = '\0';
        }
        size_t t = strlen(tmp);
        if (*len + t + 4 > cap) {
            memcpy(buf + *len, "...", 4);
            *len = cap;
            return;
        }
        memcpy(buf + *len, tmp, t + 1);
        *len += t;
    }
}

static enum lector_status fail_at(struct csv_reader *r, enum lector_status code, int64_t line,
                                  int64_t col, const char *fmt, ...) LECTOR_PRINTF(5, 6);
static enum lector_status fail_at(struct csv_reader *r, enum lector_status code, int64_t line,
                                  int64_t col, const char *fmt, ...) {
    if (r->status != LECTOR_STATUS_OK) return r->status;  // keep the first error
    r->status = code;
    if (r->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
        va_end(ap);
        r->err->code = code;
        lector__error_locate(r->err, r->name);
        r->err->line = line;
        r->err->column = col;
    }
    return code;
}

static enum lector_status fail_nomem(struct csv_reader *r) {
    return fail_at(r, LECTOR_STATUS_NOMEM, r->piece_line, -1,
                   "%s:%lld: out of memory while reading the file", r->name,
                   (long long)r->piece_line);
}

static void fail_field_too_long(struct csv_reader *r) {
    size_t mib = (size_t)1 << 20;
    char limit[48];
    if (r->n_field_max % mib == 0) snprintf(limit, sizeof limit, "%zu MiB", r->n_field_max / mib);
    else snprintf(limit, sizeof limit, "%zu bytes", r->n_field_max);
    fail_at(r, LECTOR_STATUS_FORMAT, r->field_line, -1,
            "%s:%lld: expected fields of at most %s, found a longer one starting on this line "
            "(is a quote left open?)",
            r->name, (long long)r->field_line, limit);
}

// ----------------------------------------------------------------------------
// header and rows

static void free_dataset_arrays(struct lector_dataset *ds, size_t n) {
    if (!ds) return;
    for (size_t i = 0; i < n; i++) {
        if (ds->texts) lector_free(ds->texts[i]);
        if (ds->labels) lector_free(ds->labels[i]);
    }
    lector_free(ds->texts);
    lector_free(ds->text_lens);
    lector_free(ds->labels);
    lector_free(ds->lines);
}

void lector_dataset_free(struct lector_dataset *ds) {
    if (!ds) return;
    free_dataset_arrays(ds, (size_t)ds->n_rows);
    lector_free(ds);
}

// The index of column `want` in the header, or an error naming the present columns.
static int64_t find_column(struct csv_reader *r, const char *want) {
    int64_t found = -1;
    for (size_t i = 0; i < r->n_header; i++) {
        if (strcmp(r->header[i], want) != 0) continue;
        if (found >= 0) {
            fail_at(r, LECTOR_STATUS_FORMAT, r->row_line, -1,
                    "%s:%lld: column '%s' appears twice in the header (columns %lld and %zu)",
                    r->name, (long long)r->row_line, want, (long long)found + 1, i + 1);
            return -1;
        }
        found = (int64_t)i;
    }
    if (found >= 0) return found;

    char cols[320];
    size_t len = 0;
    cols[0] = '\0';
    bool tabs = false, commas = false;
    for (size_t i = 0; i < r->n_header; i++) {
        if (i > 0) append_escaped(cols, sizeof cols, &len, ", ", 2);
        append_escaped(cols, sizeof cols, &len, r->header[i], strlen(r->header[i]));
        if (strchr(r->header[i], '\t')) tabs = true;
        if (strchr(r->header[i], ',')) commas = true;
    }
    // A TSV file read as CSV has a single column whose name holds the tabs.
    const char *hint = (r->n_header == 1 && tabs && !commas)
                           ? "; the header is split by tabs, not commas: convert the file "
                             "from TSV to CSV"
                           : "";
    fail_at(r, LECTOR_STATUS_NOT_FOUND, r->row_line, -1, "%s: no column '%s' (columns: %s)%s",
            r->name, want, cols, hint);
    return -1;
}

static void finish_header(struct csv_reader *r) {
    r->have_header = true;
    r->col_text = find_column(r, r->want_text);
    if (r->status != LECTOR_STATUS_OK) return;
    if (r->want_label) r->col_label = find_column(r, r->want_label);
}

static void finish_row(struct csv_reader *r) {
    if (r->n_fields != r->n_header) {
        fail_at(r, LECTOR_STATUS_FORMAT, r->row_line, -1, "%s:%lld: expected %zu %s, got %zu",
                r->name, (long long)r->row_line, r->n_header,
                r->n_header == 1 ? "column" : "columns", r->n_fields);
        return;
    }
    struct lector_dataset *ds = r->ds;
    size_t n = (size_t)ds->n_rows;
    if (n == r->rows_cap) {
        size_t cap = r->rows_cap ? r->rows_cap * 2 : 256, bytes;
        if (!lector__mul_size(cap, sizeof(char *), &bytes) ||
            !lector__mul_size(cap, sizeof(int64_t), &bytes)) {
            fail_nomem(r);
            return;
        }
        // Each array is replaced only when its realloc succeeds, so cleanup stays correct.
        char **texts = lector__realloc(ds->texts, cap * sizeof *texts);
        if (texts) ds->texts = texts;
        size_t *lens = lector__realloc(ds->text_lens, cap * sizeof *lens);
        if (lens) ds->text_lens = lens;
        int64_t *lines = lector__realloc(ds->lines, cap * sizeof *lines);
        if (lines) ds->lines = lines;
        char **labels = ds->labels;
        if (r->want_label) {
            labels = lector__realloc(ds->labels, cap * sizeof *labels);
            if (labels) ds->labels = labels;
        }
        bool labels_ok = !r->want_label || labels;
        if (!texts || !lens || !lines || !labels_ok) {
            fail_nomem(r);
            return;
        }
        r->rows_cap = cap;
    }
    ds->texts[n] = r->cur_text;
    ds->text_lens[n] = r->cur_text_len;
    if (ds->labels) ds->labels[n] = r->cur_label;
    ds->lines[n] = r->row_line;
    ds->n_rows++;
    r->cur_text = NULL;
    r->cur_label = NULL;
}

// ----------------------------------------------------------------------------
// libcsv callbacks

static void on_field(void *data, size_t n, void *ctx) {
    struct csv_reader *r = ctx;
    if (r->status != LECTOR_STATUS_OK) return;
    // libcsv passes its buffer, which is NULL before the first non-empty field.
    const char *s = data ? data : "";
    if (n > r->n_field_max) {
        fail_field_too_long(r);
        return;
    }
    if (!r->have_header) {
        if (r->n_header == r->header_cap) {
            size_t cap = r->header_cap ? r->header_cap * 2 : 16;
            char **h = lector__realloc(r->header, cap * sizeof *h);
            if (!h) {
                fail_nomem(r);
                return;
            }
            r->header = h;
            r->header_cap = cap;
        }
        r->header[r->n_header] = lector__strndup(s, n);
        if (!r->header[r->n_header]) {
            fail_nomem(r);
            return;
        }
        r->n_header++;
    } else {
        if ((int64_t)r->n_fields == r->col_text) {
            lector_free(r->cur_text);
            r->cur_text = lector__strndup(s, n);
            r->cur_text_len = n;
            if (!r->cur_text) fail_nomem(r);
        }
        if ((int64_t)r->n_fields == r->col_label) {
            lector_free(r->cur_label);
            r->cur_label = lector__strndup(s, n);
            if (!r->cur_label) fail_nomem(r);
        }
    }
    r->n_fields++;
    // A field ends at a comma or a line break, and the next one starts right after it. On a
    // line break the next row's start overrides this.
    r->field_line = r->piece_line;
}

static void on_row(int c, void *ctx) {
    struct csv_reader *r = ctx;
    (void)c;
    if (r->status != LECTOR_STATUS_OK) return;
    if (!r->have_header) {
        r->n_header = r->n_fields;
        finish_header(r);
    } else {
        finish_row(r);
    }
    r->n_fields = 0;
    lector_free(r->cur_text);
    lector_free(r->cur_label);
    r->cur_text = NULL;
    r->cur_label = NULL;
    r->between_rows = true;
}

// ----------------------------------------------------------------------------
// feeding bytes

static void report_parse_error(struct csv_reader *r, const unsigned char *piece, size_t k) {
    int e = csv_error(&r->parser);
    if (e == CSV_ENOMEM || e == CSV_ETOOBIG) {
        fail_nomem(r);
        return;
    }
    // In strict mode libcsv stops at the offending byte: either a quote inside an unquoted
    // field, or something other than a comma or line break after a closing quote.
    int64_t col = r->col + (int64_t)k + 1;
    unsigned char c = piece[k];
    if (c == '"') {
        fail_at(r, LECTOR_STATUS_FORMAT, r->piece_line, col,
                "%s:%lld:%lld: expected no '\"' inside an unquoted field, found one (quote the "
                "whole field and double the quote: \"say \"\"hi\"\"\")",
                r->name, (long long)r->piece_line, (long long)col);
    } else {
        char shown[8];
        if (c >= 0x20 && c < 0x7f) snprintf(shown, sizeof shown, "'%c'", c);
        else snprintf(shown, sizeof shown, "0x%02X", c);
        fail_at(r, LECTOR_STATUS_FORMAT, r->piece_line, col,
                "%s:%lld:%lld: expected a comma or line break after a closing quote, found %s "
                "(a '\"' inside a quoted field must be doubled)",
                r->name, (long long)r->piece_line, (long long)col, shown);
    }
}

// Feed n bytes to libcsv, one line at a time.
static void feed(struct csv_reader *r, const unsigned char *p, size_t n) {
    if (!r->started && n > 0) {
        r->started = true;
        if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
            fail_at(r, LECTOR_STATUS_FORMAT, 1, -1,
                    "%s: expected UTF-8, found a UTF-16 byte order mark (%02X %02X): convert the "
                    "file to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)",
                    r->name, p[0], p[1]);
            return;
        }
        if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
            p += 3;
            n -= 3;
        }
    }
    size_t i = 0;
    while (i < n && r->status == LECTOR_STATUS_OK) {
        size_t j = i;
        while (j < n && !is_line_break(p[j])) j++;
        bool has_break = j < n;
        size_t end = has_break ? j + 1 : j;
        if (j > i) {
            // Any byte other than CR or LF starts a row when libcsv is between rows (blank
            // lines are skipped; spaces are not trimmed).
            if (r->between_rows) {
                r->between_rows = false;
                r->row_line = r->line;
                r->field_line = r->line;
            }
            r->prev_cr = false;
        }
        r->piece_line = r->line;
        size_t k = csv_parse(&r->parser, p + i, end - i, on_field, on_row, r);
        if (r->status != LECTOR_STATUS_OK) return;
        if (k != end - i) {
            report_parse_error(r, p + i, k);
            return;
        }
        // libcsv's buffer holds the field read so far; stop before it grows without bound.
        if (r->parser.entry_pos > r->n_field_max) {
            fail_field_too_long(r);
            return;
        }
        size_t buf = csv_get_buffer_size(&r->parser);
        if (buf > r->parser.blk_size)
            csv_set_blk_size(&r->parser, buf < CSV_BLOCK_MAX ? buf : CSV_BLOCK_MAX);
        if (has_break) {
            // CR, LF and CRLF each end one line.
            if (p[j] == '\r') {
                r->line++;
                r->prev_cr = true;
            } else {
                if (!r->prev_cr) r->line++;
                r->prev_cr = false;
            }
            r->col = 0;
        } else {
            r->col += (int64_t)(end - i);
        }
        i = end;
    }
}

static void finish(struct csv_reader *r) {
    if (r->status != LECTOR_STATUS_OK) return;
    if (csv_fini(&r->parser, on_field, on_row, r) != 0 && r->status == LECTOR_STATUS_OK) {
        if (csv_error(&r->parser) == CSV_ENOMEM) {
            fail_nomem(r);
            return;
        }
        // CSV_STRICT_FINI: the last field opened a quote that never closed.
        fail_at(r, LECTOR_STATUS_FORMAT, r->field_line, -1,
                "%s:%lld: expected a closing '\"' for the quoted field that starts on this line, "
                "found the end of the file",
                r->name, (long long)r->field_line);
        return;
    }
    if (r->status != LECTOR_STATUS_OK) return;
    if (!r->have_header)
        fail_at(r, LECTOR_STATUS_FORMAT, 1, -1,
                "%s: expected a header row naming the columns, found an empty file", r->name);
}

// ----------------------------------------------------------------------------
// entry points

static enum lector_status reader_begin(struct csv_reader *r, const char *name,
                                       const char *text_column, const char *label_column,
                                       size_t n_field_max, struct lector_dataset **out,
                                       struct lector_error *err) {
    memset(r, 0, sizeof *r);
    r->name = name ? name : "<csv>";
    r->err = err;
    if (!out)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: out is NULL", r->name);
    *out = NULL;
    if (!text_column)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "%s: no text column given",
                             r->name);
    r->want_text = text_column;
    r->want_label = label_column;
    r->n_field_max = n_field_max ? n_field_max : CSV_FIELD_MAX_DEFAULT;
    r->col_text = r->col_label = -1;
    r->line = 1;
    r->between_rows = true;
    r->row_line = r->field_line = r->piece_line = 1;
    r->ds = lector__calloc(1, sizeof *r->ds);
    if (!r->ds)
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", r->name);
    if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        lector_free(r->ds);
        r->ds = NULL;
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", r->name);
    }
    r->parser_live = true;
    csv_set_space_func(&r->parser, no_space);
    return LECTOR_STATUS_OK;
}

// Releases everything but the dataset on success; everything on failure.
static enum lector_status reader_end(struct csv_reader *r, struct lector_dataset **out) {
    if (r->parser_live) csv_free(&r->parser);
    for (size_t i = 0; i < r->n_header; i++) lector_free(r->header[i]);
    lector_free(r->header);
    lector_free(r->cur_text);
    lector_free(r->cur_label);
    if (r->status == LECTOR_STATUS_OK) {
        *out = r->ds;
    } else {
        lector_dataset_free(r->ds);
    }
    r->ds = NULL;
    return r->status;
}

enum lector_status lector__dataset_parse_csv_buffer(const char *name, const void *data, size_t n,
                                                    const char *text_column,
                                                    const char *label_column,
                                                    size_t n_field_max,
                                                    struct lector_dataset **out,
                                                    struct lector_error *err) {
    struct csv_reader r;
    enum lector_status st =
        reader_begin(&r, name, text_column, label_column, n_field_max, out, err);
    if (st != LECTOR_STATUS_OK) return st;
    if (n > 0 && !data)
        fail_at(&r, LECTOR_STATUS_INVALID_ARG, -1, -1, "%s: data is NULL", r.name);
    else
        feed(&r, data, n);
    finish(&r);
    return reader_end(&r, out);
}

enum lector_status lector_dataset_read_csv(const char *path, const char *text_column,
                                           const char *label_column,
                                           struct lector_dataset **out,
                                           struct lector_error *err) {
    if (!path) return lector__error(err, LECTOR_STATUS_INVALID_ARG, "csv: path is NULL");
    struct csv_reader r;
    unsigned char *chunk = NULL;
    FILE *fp = NULL;
    enum lector_status st = reader_begin(&r, path, text_column, label_column, 0, out, err);
    if (st != LECTOR_STATUS_OK) return st;

    fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        fail_at(&r, e == ENOENT ? LECTOR_STATUS_NOT_FOUND : LECTOR_STATUS_IO, -1, -1,
                "%s: cannot open: %s", path, strerror(e));
        goto done;
    }
    chunk = lector__malloc(CSV_CHUNK_BYTES);
    if (!chunk) {
        fail_nomem(&r);
        goto done;
    }
    for (;;) {
        // fread fills the whole chunk unless the file ends, so the first chunk holds any BOM.
        size_t got = fread(chunk, 1, CSV_CHUNK_BYTES, fp);
        if (got > 0) feed(&r, chunk, got);
        if (r.status != LECTOR_STATUS_OK) goto done;
        if (got < CSV_CHUNK_BYTES) {
            if (ferror(fp)) {
                int e = errno;
                fail_at(&r, LECTOR_STATUS_IO, r.line, -1, "%s:%lld: read failed: %s", path,
                        (long long)r.line, strerror(e));
                goto done;
            }
            break;
        }
    }
    finish(&r);

done:
    if (fp) fclose(fp);
    lector_free(chunk);
    return reader_end(&r, out);
}
