/* The state directory: made 0700, its files refused when others may read them. */
#define G_LOG_DOMAIN "cohort-state"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort-error.h"
#include "cohort-state-dir.h"

gboolean
cohort_state_dir_prepare(const gchar *dir, GError **error)
{
    GStatBuf st;

    g_return_val_if_fail(dir != NULL, FALSE);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot make the state directory %s: %s ([daemon] state_dir)", dir,
                    g_strerror(saved));
        return FALSE;
    }
    if (g_stat(dir, &st) < 0) {
        int saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot check the state directory %s: %s ([daemon] state_dir)", dir,
                    g_strerror(saved));
        return FALSE;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "the state directory %s is not a directory ([daemon] state_dir)", dir);
        return FALSE;
    }
    if ((st.st_mode & 0077) == 0)
        return TRUE;
    /* mkdir kept what existed: an admin's 0755 directory lets anyone list it, and open what
     * in it is not 0600 */
    if (g_chmod(dir, 0700) < 0) {
        int saved = errno;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "the state directory %s is open to others (mode %04o) and cannot be made "
                    "0700: %s; make cohortd's user its owner (chown) or run: chmod 700 %s",
                    dir, (guint)(st.st_mode & 07777), g_strerror(saved), dir);
        return FALSE;
    }
    g_message("state directory %s was mode %04o: made it 0700", dir, (guint)(st.st_mode & 07777));
    return TRUE;
}

gboolean
cohort_state_file_check_mode(const gchar *path, const GStatBuf *st, const gchar *holds,
                             GError **error)
{
    if (!S_ISREG(st->st_mode)) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "%s is not a regular file: it should hold %s; move it away", path, holds);
        return FALSE;
    }
    if ((st->st_mode & 0077) == 0)
        return TRUE;
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                "%s is open to group or others (mode %04o) and holds %s: cohortd does not "
                "start with it so. Check who could read it, then run: chmod 600 %s",
                path, (guint)(st->st_mode & 07777), holds, path);
    return FALSE;
}

gboolean
cohort_state_file_check(const gchar *path, const gchar *holds, GError **error)
{
    GStatBuf st;

    if (g_lstat(path, &st) < 0) {
        int saved = errno;
        if (saved == ENOENT)
            return TRUE;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "cannot check %s: %s", path,
                    g_strerror(saved));
        return FALSE;
    }
    return cohort_state_file_check_mode(path, &st, holds, error);
}

gboolean
cohort_state_file_create_private(const gchar *path, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0) {
        int saved = errno;
        if (saved == EEXIST)
            return TRUE;
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "cannot create %s: %s; check that cohortd may write its state directory", path,
                    g_strerror(saved));
        return FALSE;
    }
    /* the umask only takes rights away: 0600 it is */
    close(fd);
    return TRUE;
}
