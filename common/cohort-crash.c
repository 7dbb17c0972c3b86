#define G_LOG_DOMAIN "cohort-crash"

#include "config.h"

#include <signal.h>
#include <unistd.h>

#include "cohort-crash.h"

static gchar *cohort_crash_name = NULL;
static gint cohort_crash_left = 0; /* atomic: passes until the crash; 0 = never */

static void
cohort_crash_init(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        const gchar *spec = g_getenv("COHORT_CRASH_POINT");
        g_auto(GStrv) parts = spec != NULL ? g_strsplit(spec, ":", 2) : NULL;
        guint64 n = 1;

        if (parts != NULL && parts[0] != NULL && parts[0][0] != '\0') {
            if (parts[1] != NULL)
                g_ascii_string_to_unsigned(parts[1], 10, 1, G_MAXINT, &n, NULL);
            cohort_crash_name = g_strdup(parts[0]);
            g_atomic_int_set(&cohort_crash_left, (gint)n);
            g_warning("crash point armed: %s, pass %" G_GUINT64_FORMAT, cohort_crash_name, n);
        }
        g_once_init_leave(&once, 1);
    }
}

void
cohort_crash_point(const gchar *name)
{
    cohort_crash_init();
    if (cohort_crash_name == NULL || g_strcmp0(name, cohort_crash_name) != 0)
        return;
    if (g_atomic_int_dec_and_test(&cohort_crash_left)) {
        /* no cleanup, no flush: exactly what kill -9 leaves */
        kill(getpid(), SIGKILL);
    }
}

/* name -> file: several points may be armed at once ("a:FILE1,b:FILE2"). */
static GHashTable *cohort_hold_points = NULL;

static void
cohort_hold_init(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        const gchar *spec = g_getenv("COHORT_HOLD_POINT");
        g_auto(GStrv) points = spec != NULL ? g_strsplit(spec, ",", -1) : NULL;

        for (guint i = 0; points != NULL && points[i] != NULL; i++) {
            g_auto(GStrv) parts = g_strsplit(points[i], ":", 2);
            if (parts[0] == NULL || parts[0][0] == '\0' || parts[1] == NULL || parts[1][0] == '\0')
                continue;
            if (cohort_hold_points == NULL)
                cohort_hold_points = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
            g_hash_table_replace(cohort_hold_points, g_strdup(parts[0]), g_strdup(parts[1]));
            g_warning("hold point armed: %s, while %s exists", parts[0], parts[1]);
        }
        g_once_init_leave(&once, 1);
    }
}

void
cohort_crash_hold(const gchar *name)
{
    const gchar *file;

    cohort_hold_init();
    if (cohort_hold_points == NULL)
        return;
    file = g_hash_table_lookup(cohort_hold_points, name);
    if (file == NULL)
        return;
    while (g_file_test(file, G_FILE_TEST_EXISTS))
        g_usleep(20 * 1000);
}
