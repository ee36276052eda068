// lector_checkpoint_release: a released tensor's data is gone (NULL), every other tensor is
// intact, and pointers that start no tensor are ignored.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/checkpoint.h"
#include "testutil.h"

static void test_release_drops_one_tensor(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    // Big enough to span whole pages, so the release really drops some.
    enum { N = 5000 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = (float)(N - i);
    }
    struct lector_tensor t[2] = {
        {LECTOR_DTYPE_F32, 1, {N, 1, 1, 1}, {1, 1, 1, 1}, a, "a"},
        {LECTOR_DTYPE_F32, 1, {N, 1, 1, 1}, {1, 1, 1, 1}, b, "b"},
    };
    char path[4200];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    struct lector_error err;
    assert_int_equal(lector_safetensors_write(path, t, 2, NULL, NULL, 0, &err), LECTOR_STATUS_OK);
    struct lector_checkpoint *ck = NULL;
    assert_int_equal(lector_checkpoint_open(path, &ck, &err), LECTOR_STATUS_OK);
    const struct lector_tensor *ta = lector_checkpoint_find(ck, "a");
    const struct lector_tensor *tb = lector_checkpoint_find(ck, "b");
    assert_non_null(ta);
    assert_non_null(tb);
    int x = 0;
    lector_checkpoint_release(ck, &x);   // starts no tensor: ignored
    lector_checkpoint_release(ck, NULL); // ignored
    lector_checkpoint_release(ck, ta->data);
    assert_null(lector_checkpoint_find(ck, "a")->data);
    assert_int_equal(lector_tensor_numel(lector_checkpoint_find(ck, "a")), N);
    assert_memory_equal(lector_checkpoint_find(ck, "b")->data, b, N * sizeof *b);
    lector_checkpoint_close(ck);
    free(a);
    free(b);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_release_drops_one_tensor)};
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
