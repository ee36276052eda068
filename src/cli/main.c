// lector command line: argument parsing only; the work is done by the library.
#include <stdio.h>
#include <string.h>

#include "lector/base.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("lector %s\n", lector_version());
        return 0;
    }
    fprintf(stderr, "lector: error: no command given\ntry 'lector --help'\n");
    return 2;
}
