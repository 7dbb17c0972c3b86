/* The store's schema as numbered steps; PRAGMA user_version is the last step applied.
 * Private to the store's files, cohort-store*.c (and its tests). */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3, sqlite3_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* The schema version of a database with every migration this code knows applied. */
gint cohort_store_migrations_latest(void);
/* Applies each pending migration in its own transaction. A database newer than the code is
 * refused and left untouched. @path names the database in messages. */
gboolean cohort_store_migrations_apply(sqlite3 *db, const gchar *path, GError **error);

G_END_DECLS
