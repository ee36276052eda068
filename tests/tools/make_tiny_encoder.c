/*
 * make_tiny_encoder DIR [SEED]: write a small random-initialised BERT checkpoint in Hugging
 * Face layout into DIR, for the command-line tests (see tests/tinyenc.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "tinyenc.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: make_tiny_encoder DIR [SEED]\n");
        return 2;
    }
    return test_make_tiny_encoder(argv[1], argc > 2 ? strtoull(argv[2], NULL, 10) : 1) == 0 ? 0 : 1;
}
