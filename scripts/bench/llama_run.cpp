// llama.cpp side of scripts/bench/bench.sh --llama: runs MODEL.gguf (an f32 GGUF converted from
// the same checkpoint by hf_to_gguf.py) through libllama on the ids bench_encoder saved in
// IO_DIR, and compares its last hidden states with lector's there.
//
//   llama_run MODEL.gguf IO_DIR THREADS REPEAT WARMUP 1x128 8x128 ...
// Prints one line per case: "llama B T median_ms sentences_per_s max_abs_diff" (the largest
// absolute difference between llama.cpp's and lector's hidden states, every token row).
// Each case gets its own context: one batch of B sequences of T tokens (positions 0..T-1,
// token type 0, every token real), decoded in one call with every token's embedding out
// (pooling none), n_threads = n_threads_batch = THREADS. The timed part is llama_decode.
// Built by bench.sh against the llama.cpp that llama.sh builds.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static bool read_file(const std::string &path, std::vector<char> &out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: llama_run MODEL.gguf IO_DIR THREADS REPEAT WARMUP BxT...\n");
        return 2;
    }
    const char *model_path = argv[1];
    std::string io = argv[2];
    int threads = atoi(argv[3]), repeat = atoi(argv[4]), warmup = atoi(argv[5]);
    llama_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) {
        fprintf(stderr, "llama_run: cannot load %s\n", model_path);
        return 1;
    }
    const int C = llama_model_n_embd(model);
    for (int a = 6; a < argc; a++) {
        int B = 0, T = 0;
        if (sscanf(argv[a], "%dx%d", &B, &T) != 2 || B <= 0 || T <= 0) {
            fprintf(stderr, "llama_run: bad case %s\n", argv[a]);
            return 2;
        }
        const int N = B * T;
        std::vector<char> ids_raw, want_raw;
        if (!read_file(io + "/ids_" + argv[a] + ".i32", ids_raw) ||
            !read_file(io + "/out_" + argv[a] + ".f32", want_raw) ||
            ids_raw.size() != (size_t)N * 4 || want_raw.size() != (size_t)N * C * 4) {
            fprintf(stderr, "llama_run: missing or short ids/out files for %s in %s\n", argv[a],
                    io.c_str());
            return 1;
        }
        std::vector<int32_t> ids(N);
        memcpy(ids.data(), ids_raw.data(), ids_raw.size());
        std::vector<float> want((size_t)N * C);
        memcpy(want.data(), want_raw.data(), want_raw.size());

        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = (uint32_t)N;
        cp.n_batch = cp.n_ubatch = (uint32_t)N;
        cp.n_seq_max = (uint32_t)B;
        cp.n_threads = cp.n_threads_batch = threads;
        cp.embeddings = true;
        cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
        cp.no_perf = true;
        llama_context *ctx = llama_init_from_model(model, cp);
        if (!ctx) {
            fprintf(stderr, "llama_run: cannot create a context for %s\n", argv[a]);
            return 1;
        }
        llama_batch batch = llama_batch_init(N, 0, 1);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int i = b * T + t;
                batch.token[i] = ids[i];
                batch.pos[i] = t;
                batch.n_seq_id[i] = 1;
                batch.seq_id[i][0] = b;
                batch.logits[i] = 1;
            }
        batch.n_tokens = N;
        std::vector<double> ms;
        for (int r = 0; r < warmup + repeat; r++) {
            auto t0 = std::chrono::steady_clock::now();
            if (llama_decode(ctx, batch) != 0) {
                fprintf(stderr, "llama_run: llama_decode failed for %s\n", argv[a]);
                return 1;
            }
            auto t1 = std::chrono::steady_clock::now();
            if (r >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        double diff = 0;
        for (int i = 0; i < N; i++) {
            const float *got = llama_get_embeddings_ith(ctx, i);
            if (!got) {
                fprintf(stderr, "llama_run: no embedding for token %d of %s\n", i, argv[a]);
                return 1;
            }
            for (int c = 0; c < C; c++)
                diff = std::max(diff, (double)std::fabs(got[c] - want[(size_t)i * C + c]));
        }
        double m = median(ms);
        printf("llama %d %d %.2f %.3g %.1e\n", B, T, m, B * 1000.0 / m, diff);
        fflush(stdout);
        llama_batch_free(batch);
        llama_free(ctx);
    }
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
