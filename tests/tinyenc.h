/* Write a tiny random BERT checkpoint (L=2, C=32, H=2, F=64, 64 positions) with a small
 * English vocab.txt into dir (which must exist). Deterministic for a seed. 0 on success. */
#ifndef LECTOR_TINYENC_H
#define LECTOR_TINYENC_H
#include <stdint.h>
int test_make_tiny_encoder(const char *dir, uint64_t seed);
#endif
