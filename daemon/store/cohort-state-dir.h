/* cohortd's state directory and the files in it (the database, its -wal and -shm files, the
 * secret key) are cohortd's alone: the directory is made 0700 whatever it was, and a file in
 * it that group or others may read is refused, with the chmod to run. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

G_BEGIN_DECLS

/* Makes @dir (and its parents) if missing, and makes it 0700 if it was more open. */
gboolean cohort_state_dir_prepare(const gchar *dir, GError **error);
/* Refuses @path when group or others have any right on it (@st from stat on it); @holds says
 * what it holds, for the message ("API token hashes and sealed VNC passwords"). */
gboolean cohort_state_file_check_mode(const gchar *path, const GStatBuf *st, const gchar *holds,
                                      GError **error);
/* The same from a stat of @path; a file that does not exist passes. */
gboolean cohort_state_file_check(const gchar *path, const gchar *holds, GError **error);
/* Makes @path empty with mode 0600 when it does not exist, so that whatever writes it later
 * (SQLite, which gives its -wal and -shm files the database's mode) starts private. */
gboolean cohort_state_file_create_private(const gchar *path, GError **error);

G_END_DECLS
