// Tests for src/task/csv.c: the CSV dialect of include/lector/data.h, line numbers and error
// messages. Every input is parsed twice, from memory and from a file (which goes through the
// chunked reader), and both results must agree.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/data.h"
#include "testutil.h"

// Internal entry point of src/task/csv.c (no public header): parse bytes in memory; name is
// used in messages, n_field_max bounds one field (0 = the default 64 MiB).
enum lector_status lector__dataset_parse_csv_buffer(const char *name, const void *data, size_t n,
                                                    const char *text_column,
                                                    const char *label_column,
                                                    size_t n_field_max,
                                                    struct lector_dataset **out,
                                                    struct lector_error *err);

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = test_mkdtemp();
    return g_dir ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static void assert_same_dataset(const struct lector_dataset *a, const struct lector_dataset *b) {
    assert_int_equal(a->n_rows, b->n_rows);
    assert_true((a->labels == NULL) == (b->labels == NULL));
    for (int64_t i = 0; i < a->n_rows; i++) {
        assert_int_equal(a->text_lens[i], b->text_lens[i]);
        assert_memory_equal(a->texts[i], b->texts[i], a->text_lens[i] + 1);
        if (a->labels) assert_string_equal(a->labels[i], b->labels[i]);
        assert_int_equal(a->lines[i], b->lines[i]);
    }
}

// Parse n bytes as "x.csv" from memory and from a file; check both agree; return the result.
static enum lector_status parse_n(const char *data, size_t n, const char *text,
                                  const char *label, struct lector_dataset **out,
                                  struct lector_error *err) {
    struct lector_dataset *mem = NULL;
    struct lector_error mem_err = {0};
    enum lector_status st_mem =
        lector__dataset_parse_csv_buffer("x.csv", data, n, text, label, 0, &mem, &mem_err);

    char *path = test_write_file(g_dir, "x.csv", data, n);
    assert_non_null(path);
    struct lector_error file_err = {0};
    // The file reader names the file by its path; compare messages with the path as "x.csv".
    enum lector_status st_file = lector_dataset_read_csv(path, text, label, out, &file_err);
    assert_int_equal(st_mem, st_file);
    if (st_file != LECTOR_STATUS_OK) {
        assert_null(*out);
        assert_null(mem);
        size_t np = strlen(path);
        assert_int_equal(strncmp(file_err.msg, path, np), 0);
        assert_string_equal(file_err.msg + np, mem_err.msg + strlen("x.csv"));
        assert_int_equal(file_err.line, mem_err.line);
        assert_int_equal(file_err.column, mem_err.column);
        assert_int_equal(file_err.code, st_file);
    } else {
        assert_same_dataset(mem, *out);
    }
    lector_dataset_free(mem);
    free(path);
    if (err) *err = mem_err;
    return st_mem;
}

static enum lector_status parse(const char *data, const char *text, const char *label,
                                struct lector_dataset **out, struct lector_error *err) {
    return parse_n(data, strlen(data), text, label, out, err);
}

// ----------------------------------------------------------------------------
// the dialect

static void test_csv_quoted_commas_and_doubled_quotes(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("text,label\n"
                           "\"a, b, and c\",pos\n"
                           "\"say \"\"hi\"\" twice\",neg\n"
                           "\"\"\"\",\"x\"\n",
                           "text", "label", &ds, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 3);
    assert_string_equal(ds->texts[0], "a, b, and c");
    assert_string_equal(ds->texts[1], "say \"hi\" twice");
    assert_string_equal(ds->texts[2], "\"");
    assert_int_equal(ds->text_lens[2], 1);
    assert_string_equal(ds->labels[0], "pos");
    assert_string_equal(ds->labels[2], "x");
    lector_dataset_free(ds);
}

static void test_csv_embedded_newlines_keep_line_numbers(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("text,label\n"             // line 1
                           "\"multi\nline\ntext\",pos\n"  // lines 2-4
                           "plain,neg\n"              // line 5
                           "\n"                       // line 6 (blank, skipped)
                           "\"x\r\ny\",pos\n"         // lines 7-8
                           "last,neg\n",              // line 9
                           "text", "label", &ds, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 4);
    assert_string_equal(ds->texts[0], "multi\nline\ntext");
    assert_string_equal(ds->texts[2], "x\r\ny");
    assert_int_equal(ds->lines[0], 2);
    assert_int_equal(ds->lines[1], 5);
    assert_int_equal(ds->lines[2], 7);
    assert_int_equal(ds->lines[3], 9);
    lector_dataset_free(ds);
}

static void test_csv_bom_before_quoted_header_and_crlf(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("\xEF\xBB\xBF\"text\",\"label\"\r\nhello,pos\r\nbye,neg\r\n", "text",
                           "label", &ds, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 2);
    assert_string_equal(ds->texts[0], "hello");
    assert_string_equal(ds->labels[0], "pos");  // no trailing CR
    assert_string_equal(ds->labels[1], "neg");
    assert_int_equal(ds->lines[0], 2);
    assert_int_equal(ds->lines[1], 3);
    lector_dataset_free(ds);

    // An unquoted header after the BOM too.
    assert_int_equal(parse("\xEF\xBB\xBFtext\nhi\n", "text", NULL, &ds, NULL), LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 1);
    assert_null(ds->labels);
    lector_dataset_free(ds);
}

static void test_csv_final_line_without_newline(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("text,label\na,b\nc,d", "text", "label", &ds, NULL), LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 2);
    assert_string_equal(ds->texts[1], "c");
    assert_string_equal(ds->labels[1], "d");
    assert_int_equal(ds->lines[1], 3);
    lector_dataset_free(ds);

    // Old Mac line ends (a lone CR) count as lines as well.
    assert_int_equal(parse("text,label\ra,b\rc,d", "text", "label", &ds, NULL), LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 2);
    assert_int_equal(ds->lines[0], 2);
    assert_int_equal(ds->lines[1], 3);
    lector_dataset_free(ds);
}

static void test_csv_columns_by_name_in_any_order(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("id,label,extra,text\n1,pos,zzz,first\n2,neg,yyy,second\n", "text",
                           "label", &ds, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 2);
    assert_string_equal(ds->texts[0], "first");
    assert_string_equal(ds->labels[0], "pos");
    assert_string_equal(ds->texts[1], "second");
    assert_string_equal(ds->labels[1], "neg");
    lector_dataset_free(ds);

    // The same column for both is allowed.
    assert_int_equal(parse("a,b\nx,y\n", "b", "b", &ds, NULL), LECTOR_STATUS_OK);
    assert_string_equal(ds->texts[0], "y");
    assert_string_equal(ds->labels[0], "y");
    lector_dataset_free(ds);
}

static void test_csv_empty_cells_and_spaces_are_kept(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("text,label\n,pos\nhello,\n\"\",neg\n  padded  , x \n", "text",
                           "label", &ds, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 4);
    assert_string_equal(ds->texts[0], "");
    assert_int_equal(ds->text_lens[0], 0);
    assert_string_equal(ds->labels[0], "pos");
    assert_string_equal(ds->texts[1], "hello");
    assert_string_equal(ds->labels[1], "");
    assert_string_equal(ds->texts[2], "");
    assert_string_equal(ds->texts[3], "  padded  ");
    assert_string_equal(ds->labels[3], " x ");
    lector_dataset_free(ds);
}

static void test_csv_header_only_and_nul_bytes(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse("text,label\n", "text", "label", &ds, NULL), LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 0);
    lector_dataset_free(ds);

    static const char with_nul[] = "text\na\0b\n";
    assert_int_equal(parse_n(with_nul, sizeof with_nul - 1, "text", NULL, &ds, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 1);
    assert_int_equal(ds->text_lens[0], 3);
    assert_memory_equal(ds->texts[0], "a\0b", 4);
    lector_dataset_free(ds);
}

// Rows across the 64 KiB chunk boundaries of the file reader, with multi-line quoted fields
// and CRLF split between chunks: line numbers must match a count made while writing.
static void test_csv_chunk_boundaries(void **state) {
    (void)state;
    size_t cap = 400000, n = 0;
    char *buf = malloc(cap);
    int64_t expect_lines[4000];
    int64_t line = 1, n_rows = 0;
    n += (size_t)snprintf(buf + n, cap - n, "label,text\r\n");
    line++;
    for (int i = 0; n_rows < 4000 && n + 200 < cap; i++) {
        expect_lines[n_rows++] = line;
        int nl = i % 4;  // 0..3 line breaks inside the quoted text
        n += (size_t)snprintf(buf + n, cap - n, "l%d,\"row %d", i % 3, i);
        for (int k = 0; k < nl; k++) n += (size_t)snprintf(buf + n, cap - n, "%s more %d", k % 2 ? "\r\n" : "\n", k);
        line += nl;
        n += (size_t)snprintf(buf + n, cap - n, " \"\"q\"\" %*s\"\r\n", 40 + i % 37, "pad");
        line++;
    }
    assert_true(n > 3 * 65536);
    struct lector_dataset *ds = NULL;
    assert_int_equal(parse_n(buf, n, "text", "label", &ds, NULL), LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, n_rows);
    for (int64_t i = 0; i < n_rows; i++) assert_int_equal(ds->lines[i], expect_lines[i]);
    assert_memory_equal(ds->texts[5], "row 5\n more 0", 13);
    assert_string_equal(ds->labels[5], "l2");
    lector_dataset_free(ds);
    free(buf);
}

// ----------------------------------------------------------------------------
// errors

static void test_csv_ragged_row_names_its_line(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(parse("text,label\na,b\n\"multi\nline\",c\nd,e,f\ng,h\n", "text", "label",
                           &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_null(ds);
    assert_string_equal(err.msg, "x.csv:5: expected 2 columns, got 3");
    assert_int_equal(err.line, 5);

    assert_int_equal(parse("text,label\na,b\nonly\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_string_equal(err.msg, "x.csv:3: expected 2 columns, got 1");
    assert_int_equal(err.line, 3);
}

static void test_csv_unterminated_quote_names_opening_line(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    // The row starts on line 3; the quote opens in its second field on line 4.
    assert_int_equal(parse("text,label\na,b\n\"two\nlines\",\"open\nmore\nstuff\n", "text",
                           "label", &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_null(ds);
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.msg, "x.csv:4:"));
    assert_non_null(strstr(err.msg, "closing '\"'"));

    assert_int_equal(parse("text,label\na,b\n\n\"never closed, pos\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_int_equal(err.line, 4);
}

static void test_csv_stray_quotes(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(parse("text,label\nab\"c,d\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 3);
    assert_non_null(strstr(err.msg, "x.csv:2:3: expected no '\"' inside an unquoted field"));

    assert_int_equal(parse("text,label\n\"a\nb\"c,d\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 3);
    assert_non_null(strstr(err.msg, "found 'c'"));
}

static void test_csv_missing_column_lists_present_ones(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(parse("text,sentiment\na,pos\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_NOT_FOUND);
    assert_null(ds);
    assert_string_equal(err.msg, "x.csv: no column 'label' (columns: text, sentiment)");

    assert_int_equal(parse("review,label\na,pos\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_NOT_FOUND);
    assert_string_equal(err.msg, "x.csv: no column 'text' (columns: review, label)");

    assert_int_equal(parse("text,label,text\na,b,c\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_string_equal(err.msg,
                        "x.csv:1: column 'text' appears twice in the header (columns 1 and 3)");
}

static void test_csv_missing_column_long_header_is_truncated(void **state) {
    (void)state;
    char header[4096];
    size_t n = 0;
    for (int i = 0; i < 120; i++)
        n += (size_t)snprintf(header + n, sizeof header - n, "%scol\x01%03d", i ? "," : "", i);
    snprintf(header + n, sizeof header - n, "\n");
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(parse(header, "text", NULL, &ds, &err), LECTOR_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "(columns: col\\x01000, col\\x01001, "));
    assert_non_null(strstr(err.msg, "...)"));
    assert_true(strlen(err.msg) < sizeof err.msg - 1);
}

static void test_csv_tsv_is_one_column(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(parse("text\tlabel\nhello\tpos\n", "text", "label", &ds, &err),
                     LECTOR_STATUS_NOT_FOUND);
    assert_null(ds);
    assert_non_null(strstr(err.msg, "x.csv: no column 'text' (columns: text\\tlabel)"));
    assert_non_null(strstr(err.msg, "TSV"));
}

static void test_csv_utf16_refused(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    static const char le[] = "\xFF\xFEt\0e\0x\0t\0\n\0";
    assert_int_equal(parse_n(le, sizeof le - 1, "text", NULL, &ds, &err), LECTOR_STATUS_FORMAT);
    assert_null(ds);
    assert_non_null(strstr(err.msg, "UTF-16"));
    assert_non_null(strstr(err.msg, "convert the file to UTF-8"));
    static const char be[] = "\xFE\xFF\0t\0e\0x\0t\0\n";
    assert_int_equal(parse_n(be, sizeof be - 1, "text", NULL, &ds, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "FE FF"));
}

static void test_csv_empty_file_refused(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(parse("", "text", "label", &ds, &err), LECTOR_STATUS_FORMAT);
    assert_null(ds);
    assert_non_null(strstr(err.msg, "expected a header row"));
    assert_int_equal(parse("\xEF\xBB\xBF", "text", "label", &ds, &err), LECTOR_STATUS_FORMAT);
    assert_int_equal(parse("\n\r\n\n", "text", "label", &ds, &err), LECTOR_STATUS_FORMAT);
}

static void test_csv_field_size_bound(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    const char *ok = "text\n0123456789abcdef\n";
    assert_int_equal(lector__dataset_parse_csv_buffer("x.csv", ok, strlen(ok), "text", NULL, 16,
                                                      &ds, &err),
                     LECTOR_STATUS_OK);
    lector_dataset_free(ds);
    ds = NULL;
    const char *big = "text\n0123456789abcdefg\n";
    assert_int_equal(lector__dataset_parse_csv_buffer("x.csv", big, strlen(big), "text", NULL, 16,
                                                      &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_null(ds);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "16 bytes"));
    // A quoted field that grows over many lines is stopped before its end.
    const char *multi = "text\n\"aaaaaaa\nbbbbbbb\ncccccccc\ndddddddd\"\n";
    assert_int_equal(lector__dataset_parse_csv_buffer("x.csv", multi, strlen(multi), "text", NULL,
                                                      16, &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_int_equal(err.line, 2);
}

static void test_csv_missing_file(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/does-not-exist.csv", g_dir);
    assert_int_equal(lector_dataset_read_csv(path, "text", "label", &ds, &err),
                     LECTOR_STATUS_NOT_FOUND);
    assert_null(ds);
    assert_non_null(strstr(err.msg, "does-not-exist.csv: cannot open"));
    // A directory opens but cannot be read.
    assert_int_equal(lector_dataset_read_csv(g_dir, "text", "label", &ds, &err),
                     LECTOR_STATUS_IO);
    lector_dataset_free(NULL);
}

// The files in tests/data/csv/ (also seeds for the fuzzer).
static void test_csv_data_files(void **state) {
    (void)state;
    struct lector_dataset *ds = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_dataset_read_csv(LECTOR_TEST_DATA "/csv/reviews.csv", "review",
                                             "sentiment", &ds, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(ds->n_rows, 4);
    assert_string_equal(ds->texts[1], "Loved it, \"really\" loved it.\nWould watch again.");
    assert_string_equal(ds->labels[1], "positive");
    assert_int_equal(ds->lines[2], 5);
    assert_string_equal(ds->texts[3], "");
    lector_dataset_free(ds);
    ds = NULL;
    assert_int_equal(lector_dataset_read_csv(LECTOR_TEST_DATA "/csv/ragged.csv", "text", "label",
                                             &ds, &err),
                     LECTOR_STATUS_FORMAT);
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.msg, "ragged.csv:4: expected 2 columns, got 3"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quoted_commas_and_doubled_quotes),
        cmocka_unit_test(test_csv_embedded_newlines_keep_line_numbers),
        cmocka_unit_test(test_csv_bom_before_quoted_header_and_crlf),
        cmocka_unit_test(test_csv_final_line_without_newline),
        cmocka_unit_test(test_csv_columns_by_name_in_any_order),
        cmocka_unit_test(test_csv_empty_cells_and_spaces_are_kept),
        cmocka_unit_test(test_csv_header_only_and_nul_bytes),
        cmocka_unit_test(test_csv_chunk_boundaries),
        cmocka_unit_test(test_csv_ragged_row_names_its_line),
        cmocka_unit_test(test_csv_unterminated_quote_names_opening_line),
        cmocka_unit_test(test_csv_stray_quotes),
        cmocka_unit_test(test_csv_missing_column_lists_present_ones),
        cmocka_unit_test(test_csv_missing_column_long_header_is_truncated),
        cmocka_unit_test(test_csv_tsv_is_one_column),
        cmocka_unit_test(test_csv_utf16_refused),
        cmocka_unit_test(test_csv_empty_file_refused),
        cmocka_unit_test(test_csv_field_size_bound),
        cmocka_unit_test(test_csv_missing_file),
        cmocka_unit_test(test_csv_data_files),
    };
    return test_status(cmocka_run_group_tests(tests, setup, teardown));
}
