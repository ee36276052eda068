// AdamW against torch.optim.AdamW trajectories (shared/fixtures/adamw/trajectory.json):
// three settings, 10 steps each, parameters and optimiser state compared after every step.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lector/head.h"
#include "head/head_impl.h"
#include "testutil.h"

#define N_MAX 64
#define TOL 1e-6f

static json_t *g_root;

// Append tensor t ({"shape": [...], "hex": [...]}) to out[*n]; values are exact via strtod.
static void read_tensor(const json_t *t, float *out, int64_t *n) {
    assert_non_null(t);
    const json_t *shape = json_object_get(t, "shape");
    const json_t *hex = json_object_get(t, "hex");
    assert_true(json_is_array(shape) && json_is_array(hex));
    int64_t numel = 1;
    for (size_t i = 0; i < json_array_size(shape); i++)
        numel *= (int64_t)json_integer_value(json_array_get(shape, i));
    assert_int_equal(numel, (int64_t)json_array_size(hex));
    assert_true(*n + numel <= N_MAX);
    for (int64_t i = 0; i < numel; i++) {
        const char *s = json_string_value(json_array_get(hex, (size_t)i));
        assert_non_null(s);
        char *end = NULL;
        double d = strtod(s, &end);
        assert_true(end && *end == '\0');
        out[(*n)++] = (float)d;
    }
}

// The case's parameter list ("params": ["W", "b"]) concatenated into one vector.
static int64_t read_params(const json_t *c, const json_t *group, float *out) {
    const json_t *names = json_object_get(c, "params");
    assert_true(json_is_array(names));
    int64_t n = 0;
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *name = json_string_value(json_array_get(names, i));
        assert_non_null(name);
        read_tensor(json_object_get(group, name), out, &n);
    }
    return n;
}

static float check(const char *what, const char *label, int step, const float *got,
                   const float *want, int64_t n) {
    float d = test_max_abs_diff(got, want, n);
    if (!(d <= TOL)) {
        fprintf(stderr, "%s step %d: %s max |diff| %g > %g\n", label, step, what, (double)d,
                (double)TOL);
        fail();
    }
    return d;
}

static void run_case(const json_t *c) {
    const char *label = json_string_value(json_object_get(c, "label"));
    const json_t *hyper = json_object_get(c, "hyper");
    assert_non_null(label);
    assert_non_null(hyper);
    const json_t *betas = json_object_get(hyper, "betas");

    struct lector_adamw_params hp = lector_adamw_default_params();
    hp.lr = (float)json_number_value(json_object_get(hyper, "lr"));
    hp.beta1 = (float)json_number_value(json_array_get(betas, 0));
    hp.beta2 = (float)json_number_value(json_array_get(betas, 1));
    hp.eps = (float)json_number_value(json_object_get(hyper, "eps"));
    hp.weight_decay = (float)json_number_value(json_object_get(hyper, "weight_decay"));
    hp.amsgrad = json_is_true(json_object_get(hyper, "amsgrad"));
    assert_false(json_is_true(json_object_get(hyper, "maximize")));

    float params[N_MAX], grad[N_MAX], want[N_MAX];
    int64_t n = read_params(c, json_object_get(c, "initial"), params);

    struct lector_adamw *opt = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_adamw_new(n, &hp, &opt, &err), LECTOR_STATUS_OK);

    const json_t *steps = json_object_get(c, "steps");
    assert_true(json_array_size(steps) > 0);
    float worst_p = 0.0f, worst_m = 0.0f, worst_v = 0.0f, worst_vmax = 0.0f;
    for (size_t s = 0; s < json_array_size(steps); s++) {
        const json_t *st = json_array_get(steps, s);
        int step = (int)json_integer_value(json_object_get(st, "step"));
        assert_int_equal(step, (int)s + 1);
        assert_int_equal(read_params(c, json_object_get(st, "grad"), grad), n);
        // torch applies weight_decay to every tensor in this fixture (W and b alike).
        lector_adamw_step(opt, params, grad, NULL);
        assert_int_equal(lector_adamw_n_steps(opt), step);

        float d;
        read_params(c, json_object_get(st, "after"), want);
        d = check("params", label, step, params, want, n);
        if (d > worst_p) worst_p = d;
        read_params(c, json_object_get(st, "exp_avg"), want);
        d = check("exp_avg", label, step, lector__adamw_m(opt), want, n);
        if (d > worst_m) worst_m = d;
        read_params(c, json_object_get(st, "exp_avg_sq"), want);
        d = check("exp_avg_sq", label, step, lector__adamw_v(opt), want, n);
        if (d > worst_v) worst_v = d;
        if (hp.amsgrad) {
            assert_non_null(lector__adamw_vmax(opt));
            read_params(c, json_object_get(st, "max_exp_avg_sq"), want);
            d = check("max_exp_avg_sq", label, step, lector__adamw_vmax(opt), want, n);
            if (d > worst_vmax) worst_vmax = d;
        } else {
            assert_null(lector__adamw_vmax(opt));
        }
    }
    printf("%-22s max |diff| params %.3g, exp_avg %.3g, exp_avg_sq %.3g", label, (double)worst_p,
           (double)worst_m, (double)worst_v);
    if (hp.amsgrad) printf(", max_exp_avg_sq %.3g", (double)worst_vmax);
    printf(" (tolerance %g)\n", (double)TOL);
    lector_adamw_free(opt);
}

static void test_adamw_matches_torch_trajectories(void **state) {
    (void)state;
    const json_t *cases = json_object_get(g_root, "cases");
    assert_int_equal(json_array_size(cases), 3);
    for (size_t i = 0; i < json_array_size(cases); i++) run_case(json_array_get(cases, i));
}

static void test_adamw_decay_mask_skips_masked_params(void **state) {
    (void)state;
    // With a zero gradient the Adam part is 0/(0+eps) = 0, so only the decay moves p.
    struct lector_adamw_params hp = lector_adamw_default_params();
    hp.lr = 0.1f;
    hp.weight_decay = 0.5f;
    struct lector_adamw *opt = NULL;
    assert_int_equal(lector_adamw_new(2, &hp, &opt, NULL), LECTOR_STATUS_OK);
    float p[2] = {1.0f, 1.0f}, g[2] = {0.0f, 0.0f};
    const uint8_t mask[2] = {1, 0};
    lector_adamw_step(opt, p, g, mask);
    assert_float_equal(p[0], 0.95f, 1e-7);  // 1 * (1 - 0.1 * 0.5)
    assert_float_equal(p[1], 1.0f, 0.0);
    lector_adamw_free(opt);
}

static void test_adamw_rejects_bad_hyperparameters(void **state) {
    (void)state;
    struct lector_adamw_params hp = lector_adamw_default_params();
    struct lector_adamw *opt = NULL;
    struct lector_error err = {0};
    hp.beta2 = 1.0f;
    assert_int_equal(lector_adamw_new(4, &hp, &opt, &err), LECTOR_STATUS_INVALID_ARG);
    assert_null(opt);
    assert_non_null(strstr(err.msg, "betas"));
    hp = lector_adamw_default_params();
    hp.lr = NAN;
    assert_int_equal(lector_adamw_new(4, &hp, &opt, &err), LECTOR_STATUS_INVALID_ARG);
    hp = lector_adamw_default_params();
    assert_int_equal(lector_adamw_new(0, &hp, &opt, &err), LECTOR_STATUS_INVALID_ARG);
    lector_adamw_free(NULL);
}

int main(void) {
    const char *path = test_shared_path("fixtures/adamw/trajectory.json");
    if (!path) {
        printf("skipped: shared/ not found\n");
        return 77;
    }
    json_error_t jerr;
    g_root = json_load_file(path, 0, &jerr);
    if (!g_root) {
        fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_matches_torch_trajectories),
        cmocka_unit_test(test_adamw_decay_mask_skips_masked_params),
        cmocka_unit_test(test_adamw_rejects_bad_hyperparameters),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(g_root);
    return test_status(rc);
}
