/* What every libFuzzer target in tests/fuzz shares: a quiet, strict process and a check that
 * turns a broken invariant into a crash the fuzzer reports (and keeps as an artifact). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

G_BEGIN_DECLS

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Not an assert(): it stays in every build type. */
#define COHORT_FUZZ_CHECK(cond)                                                                    \
    do {                                                                                           \
        if (G_UNLIKELY(!(cond))) {                                                                 \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A g_critical() (a g_return_if_fail() that failed) or a g_warning(), ours or GLib's, is a
 * bug the input found: abort() (not GLib's SIGTRAP, which libFuzzer does not catch), so that
 * libFuzzer reports it like any crash and keeps the input. Debug and info are dropped. */
static GLogWriterOutput
cohort_fuzz_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                       gpointer user_data G_GNUC_UNUSED)
{
    if (!(level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)))
        return G_LOG_WRITER_HANDLED;
    g_log_writer_standard_streams(level, fields, n_fields, NULL);
    abort();
}

static inline void
cohort_fuzz_init(void)
{
    g_log_set_writer_func(cohort_fuzz_log_writer, NULL, NULL);
}

G_END_DECLS
