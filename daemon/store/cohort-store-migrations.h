/* The store's schema as numbered steps; PRAGMA user_version is the last step applied.
 * Private to the store's files, cohort-store*.c (and its tests). */
#pragma once

#include <glib.h>
#include <sqlite3.h>

#include "cohort-secret.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3, sqlite3_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* The schema version of a database with every migration this code knows applied. */
gint cohort_store_migrations_latest(void);
/* The step that seals the VNC passwords (tests build the database of the step before). */
#define COHORT_STORE_MIGRATION_SEAL_VNC 6
/* The step that writes the machines' state CHECK without an IN list. */
#define COHORT_STORE_MIGRATION_STATE_CHECK 13

/* What a machine's sealed VNC password is bound to, before the machine's name. */
#define COHORT_STORE_CONTEXT_VNC_PASSWORD "machines.vnc_password:"
/* What a machine's sealed guest password is bound to, before the machine's name. */
#define COHORT_STORE_CONTEXT_GUEST_PASSWORD "machines.guest_password:"

/* Applies each pending migration in its own transaction. A database newer than the code is
 * refused and left untouched. @path names the database in messages; @key seals what a step
 * moves out of clear text. */
gboolean cohort_store_migrations_apply(sqlite3 *db, const gchar *path, const CohortSecretKey *key,
                                       GError **error);
/* The same up to schema version @target only (tests: a database as an older cohortd left it). */
gboolean cohort_store_migrations_apply_upto(sqlite3 *db, const gchar *path,
                                            const CohortSecretKey *key, gint target,
                                            GError **error);

G_END_DECLS
