/* A main() for a fuzz target without libFuzzer: runs the target once on every file named or
 * in a folder named, so the unit suite (gcc, and ./cohort-dev asan) checks every seed and
 * every crash kept in tests/fuzz/corpus/ on every build. */
#define G_LOG_DOMAIN "fuzz-replay"

#include "config.h"

#include <string.h>

#include "cohort-fuzz.h"

static guint fuzz_replay_count;

static void
fuzz_replay_file(const gchar *path)
{
    g_autoptr(GError) error = NULL;
    g_autofree gchar *data = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &data, &len, &error)) {
        fprintf(stderr, "fuzz-replay: %s\n", error->message);
        exit(2);
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    fuzz_replay_count++;
}

static void
fuzz_replay_path(const gchar *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) dir = NULL;
    const gchar *name;

    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        fuzz_replay_file(path);
        return;
    }
    dir = g_dir_open(path, 0, &error);
    if (dir == NULL) {
        fprintf(stderr, "fuzz-replay: %s\n", error->message);
        exit(2);
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree gchar *child = g_build_filename(path, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_REGULAR))
            fuzz_replay_file(child);
    }
}

int
main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        fuzz_replay_path(argv[i]);
    if (fuzz_replay_count == 0) {
        fprintf(stderr, "fuzz-replay: no input in the paths given\n");
        return 1;
    }
    printf("%u inputs, no invariant broken\n", fuzz_replay_count);
    return 0;
}
