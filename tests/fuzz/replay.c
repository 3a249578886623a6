/* replay.c — a main() for the libFuzzer harnesses without libFuzzer: runs
 * LLVMFuzzerTestOneInput on every file named on the command line (or in a
 * directory named there), so the normal test suite replays the seed corpus
 * and every past finding (tests/fuzz/corpus/NAME/) with gcc and no clang.
 * Exit 0 when all ran; a harness property failure aborts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, r;
    if (!f) { perror(path); return 1; }
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if (!(buf = realloc(buf, cap))) { fclose(f); return 1; }
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 0, bad = 0;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { perror(argv[i]); return 1; }
        if (!S_ISDIR(st.st_mode)) { bad += run_file(argv[i]); runs++; continue; }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        if (!d) { perror(argv[i]); return 1; }
        while ((e = readdir(d))) {
            char path[4096];
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            bad += run_file(path);
            runs++;
        }
        closedir(d);
    }
    printf("%d inputs replayed, %d unreadable\n", runs, bad);
    return bad ? 1 : runs ? 0 : 1;
}
