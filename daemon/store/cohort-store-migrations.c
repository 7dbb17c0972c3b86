#define G_LOG_DOMAIN "cohort-store"

#include "config.h"

#include "cohort-error.h"
#include "cohort-secret.h"
#include "cohort-store-migrations.h"

/* Times are compared as text (expiry, newest first), which is only sound when every one has
 * exactly the shape cohort_store_now() writes. */
#define TS_SHAPE "'[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z'"
#define IS_TS(col) "(" col " GLOB " TS_SHAPE ")"
#define IS_TS_OR_NULL(col) "(" col " IS NULL OR " col " GLOB " TS_SHAPE ")"
/* Secrets are stored as their SHA-256 hex: anything else is a secret stored in clear. */
#define IS_SHA256(col) "(length(" col ") = 64 AND " col " NOT GLOB '*[^0-9a-f]*')"
/* Secrets that must be read back are sealed (cohort-secret.h): anything else is in clear. */
#define IS_SEALED_OR_NULL(col) "(" col " IS NULL OR " col " GLOB '" COHORT_SECRET_PREFIX "?*')"

/* Append only: a shipped step is never edited, a change is a new step. Step i (from 1) brings
 * the database to user_version i. */
/* clang-format cannot lay out SQL: one column a line reads better. */
/* clang-format off */
static const gchar *const cohort_store_migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE hosts ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    "  uri TEXT NOT NULL CHECK (uri <> ''),"
    "  pool TEXT NOT NULL CHECK (pool <> ''),"
    "  vcpus INTEGER NOT NULL CHECK (vcpus >= 0),"
    "  memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),"
    "  cpu_ratio REAL NOT NULL CHECK (cpu_ratio > 0),"
    "  memory_ratio REAL NOT NULL CHECK (memory_ratio > 0),"
    "  state TEXT NOT NULL CHECK (state IN ('up', 'draining', 'down')),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ");"

    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  login TEXT NOT NULL UNIQUE CHECK (login <> ''),"
    "  display_name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'trainer', 'trainee')),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ");"

    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  token_hash TEXT NOT NULL UNIQUE CHECK " IS_SHA256("token_hash") ","
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  revoked_at TEXT CHECK " IS_TS_OR_NULL("revoked_at") ");"
    "CREATE INDEX tokens_by_user ON tokens(user_id);"

    "CREATE TABLE cohorts ("
    "  id INTEGER PRIMARY KEY,"
    "  slug TEXT NOT NULL UNIQUE CHECK (slug <> ''),"
    "  title TEXT NOT NULL,"
    "  template_name TEXT NOT NULL CHECK (template_name <> ''),"
    "  trainer_id INTEGER NOT NULL REFERENCES users(id),"
    "  starts_at TEXT NOT NULL CHECK " IS_TS("starts_at") ","
    "  ends_at TEXT NOT NULL CHECK " IS_TS("ends_at") ","
    "  grace_hours INTEGER NOT NULL CHECK (grace_hours >= 0),"
    "  quota_machines INTEGER NOT NULL CHECK (quota_machines > 0),"
    "  quota_vcpus INTEGER NOT NULL CHECK (quota_vcpus > 0),"
    "  quota_memory_mib INTEGER NOT NULL CHECK (quota_memory_mib > 0),"
    "  state TEXT NOT NULL CHECK (state IN ('planned', 'active', 'ended', 'reclaimed')),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ");"
    "CREATE INDEX cohorts_by_trainer ON cohorts(trainer_id);"

    "CREATE TABLE enrollments ("
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  PRIMARY KEY (cohort_id, user_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX enrollments_by_user ON enrollments(user_id);"

    "CREATE TABLE invitations ("
    "  id INTEGER PRIMARY KEY,"
    "  code_hash TEXT NOT NULL UNIQUE CHECK " IS_SHA256("code_hash") ","
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  cohort_id INTEGER REFERENCES cohorts(id) ON DELETE CASCADE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  expires_at TEXT NOT NULL CHECK " IS_TS("expires_at") ","
    "  used_at TEXT CHECK " IS_TS_OR_NULL("used_at") ");"
    "CREATE INDEX invitations_by_user ON invitations(user_id);"
    "CREATE INDEX invitations_by_cohort ON invitations(cohort_id);"

    /* No index on cohort_id alone: the UNIQUE (cohort_id, user_id, idx) index serves
     * lookups by cohort, and by cohort and trainee. */
    "CREATE TABLE machines ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  host_id INTEGER REFERENCES hosts(id),"
    "  template_name TEXT NOT NULL CHECK (template_name <> ''),"
    "  idx INTEGER NOT NULL CHECK (idx > 0),"
    "  state TEXT NOT NULL CHECK (state IN ('requested', 'provisioning', 'running', 'stopped',"
    "                                       'reclaiming', 'reclaimed', 'failed')),"
    "  vcpus INTEGER NOT NULL CHECK (vcpus > 0),"
    "  memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),"
    "  vnc_password TEXT,"
    "  uuid TEXT UNIQUE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  expires_at TEXT CHECK " IS_TS_OR_NULL("expires_at") ","
    "  error TEXT,"
    "  UNIQUE (cohort_id, user_id, idx));"
    "CREATE INDEX machines_by_user ON machines(user_id);"
    "CREATE INDEX machines_by_host ON machines(host_id);"

    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind <> ''),"
    "  user_id INTEGER REFERENCES users(id),"
    "  target TEXT,"
    "  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    "  total INTEGER NOT NULL CHECK (total >= 0),"
    "  done INTEGER NOT NULL CHECK (done >= 0),"
    "  failed INTEGER NOT NULL CHECK (failed >= 0),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  finished_at TEXT CHECK " IS_TS_OR_NULL("finished_at") ","
    "  CHECK (done + failed <= total));"
    "CREATE INDEX jobs_by_user ON jobs(user_id);"

    "CREATE TABLE job_errors ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  machine TEXT,"
    "  code TEXT NOT NULL CHECK (code <> ''),"
    "  message TEXT NOT NULL);"
    "CREATE INDEX job_errors_by_job ON job_errors(job_id, id);"

    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL CHECK " IS_TS("at") ","
    "  actor TEXT NOT NULL CHECK (actor <> ''),"
    "  action TEXT NOT NULL CHECK (action <> ''),"
    "  target TEXT,"
    "  result TEXT NOT NULL CHECK (result <> ''),"
    "  detail TEXT);",

    /* 2: the installation's identity (in every machine's tag), and machines' running time */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY CHECK (key <> ''),"
    "  value TEXT NOT NULL);"

    "CREATE TABLE machine_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,"
    "  started_at TEXT NOT NULL CHECK " IS_TS("started_at") ","
    "  stopped_at TEXT CHECK " IS_TS_OR_NULL("stopped_at") ");"
    "CREATE INDEX machine_runs_open ON machine_runs(machine_id) WHERE stopped_at IS NULL;",

    /* 3: leases (a machine's own expiry, extendable within the cohort's limits), and what a
     * reclaim freed */
    "ALTER TABLE cohorts ADD COLUMN lease_hours INTEGER NOT NULL DEFAULT 0"
    "  CHECK (lease_hours >= 0);"
    "ALTER TABLE cohorts ADD COLUMN lease_max_extensions INTEGER NOT NULL DEFAULT 0"
    "  CHECK (lease_max_extensions >= 0);"
    "ALTER TABLE machines ADD COLUMN extensions INTEGER NOT NULL DEFAULT 0"
    "  CHECK (extensions >= 0);"
    "ALTER TABLE jobs ADD COLUMN freed_machines INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN freed_vcpus INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN freed_memory_mib INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN freed_disk_bytes INTEGER NOT NULL DEFAULT 0;",

    /* 4: a cohort's network: its own isolated one ("isolated") or a named libvirt network
     * the hosts share, which Cohort never makes or removes; and the networks a reclaim
     * removed */
    "ALTER TABLE cohorts ADD COLUMN network TEXT NOT NULL DEFAULT 'isolated'"
    "  CHECK (network <> '' AND length(network) <= 64);"
    "ALTER TABLE jobs ADD COLUMN freed_networks INTEGER NOT NULL DEFAULT 0"
    "  CHECK (freed_networks >= 0);",

    /* 5: usage sums every run of a cohort's machines: runs by machine, not only open ones;
     * placement sums what each host's live machines hold, once per machine placed: an index
     * of those alone, covering the sums, so reclaimed rows cost nothing */
    "CREATE INDEX machine_runs_by_machine ON machine_runs(machine_id);"
    "CREATE INDEX machines_holding_by_host ON machines(host_id, vcpus, memory_mib)"
    "  WHERE state NOT IN ('reclaimed', 'failed');",

    /* 6: VNC passwords sealed with the secret key (a file apart from the database); the
     * clear column goes (cohort_store_migration_seal_vnc_passwords) */
    "ALTER TABLE machines ADD COLUMN vnc_password_sealed TEXT"
    "  CHECK " IS_SEALED_OR_NULL("vnc_password_sealed") ";",

    /* 7: a machine shows the work under way on it (starting, stopping, rebooting, resetting)
     * until libvirt reports the result; SQLite changes a CHECK only by making the table
     * again (the runner turns foreign keys off around each step, as SQLite's own recipe
     * says, and checks them before the commit). A bulk job records its machines with the
     * rows, in one transaction, so that a restart finishes what is left and counts it (and,
     * for a reclaim, whether each held host resources: a failed one did not). */
    "CREATE TABLE machines_new ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  host_id INTEGER REFERENCES hosts(id),"
    "  template_name TEXT NOT NULL CHECK (template_name <> ''),"
    "  idx INTEGER NOT NULL CHECK (idx > 0),"
    "  state TEXT NOT NULL CHECK (state IN ('requested', 'provisioning', 'running', 'stopped',"
    "                                       'starting', 'stopping', 'rebooting', 'resetting',"
    "                                       'reclaiming', 'reclaimed', 'failed')),"
    "  vcpus INTEGER NOT NULL CHECK (vcpus > 0),"
    "  memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),"
    "  uuid TEXT UNIQUE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  expires_at TEXT CHECK " IS_TS_OR_NULL("expires_at") ","
    "  error TEXT,"
    "  extensions INTEGER NOT NULL DEFAULT 0 CHECK (extensions >= 0),"
    "  vnc_password_sealed TEXT CHECK " IS_SEALED_OR_NULL("vnc_password_sealed") ","
    "  UNIQUE (cohort_id, user_id, idx));"
    "INSERT INTO machines_new (id, name, cohort_id, user_id, host_id, template_name, idx, state,"
    "  vcpus, memory_mib, uuid, created_at, expires_at, error, extensions, vnc_password_sealed)"
    "  SELECT id, name, cohort_id, user_id, host_id, template_name, idx, state, vcpus,"
    "  memory_mib, uuid, created_at, expires_at, error, extensions, vnc_password_sealed"
    "  FROM machines;"
    "DROP TABLE machines;"
    "ALTER TABLE machines_new RENAME TO machines;"
    "CREATE INDEX machines_by_user ON machines(user_id);"
    "CREATE INDEX machines_by_host ON machines(host_id);"
    "CREATE INDEX machines_holding_by_host ON machines(host_id, vcpus, memory_mib)"
    "  WHERE state NOT IN ('reclaimed', 'failed');"

    "CREATE TABLE job_machines ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,"
    "  outcome TEXT CHECK (outcome IS NULL OR outcome IN ('done', 'failed')),"
    "  held INTEGER NOT NULL DEFAULT 1 CHECK (held IN (0, 1)),"
    "  PRIMARY KEY (job_id, machine_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX job_machines_by_machine ON job_machines(machine_id);",

    /* 8: many hosts. A host's disk overcommit (what its pool may promise overlays that grow);
     * a cohort's placement policy (NULL: the installation's); a machine's planned disk (its
     * overlay may grow to it) and the state of a machine whose disk moves to another host
     * ("moving": the table is made again, as in step 7). Template bases: where each came
     * from (a file, or blank), so that a host added later gets it too, and per host whether
     * an upload is under way or verified (an interrupted one is made again, never used).
     * What a move left on a host that was down, for reconcile to remove when it is back. Job
     * errors may name a host, and jobs count the bytes they send. */
    "ALTER TABLE hosts ADD COLUMN disk_ratio REAL NOT NULL DEFAULT 1.0 CHECK (disk_ratio > 0);"
    "ALTER TABLE cohorts ADD COLUMN placement TEXT"
    "  CHECK (placement IS NULL OR placement IN ('spread', 'pack'));"

    "CREATE TABLE machines_new ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  host_id INTEGER REFERENCES hosts(id),"
    "  template_name TEXT NOT NULL CHECK (template_name <> ''),"
    "  idx INTEGER NOT NULL CHECK (idx > 0),"
    "  state TEXT NOT NULL CHECK (state IN ('requested', 'provisioning', 'running', 'stopped',"
    "                                       'starting', 'stopping', 'rebooting', 'resetting',"
    "                                       'moving', 'reclaiming', 'reclaimed', 'failed')),"
    "  vcpus INTEGER NOT NULL CHECK (vcpus > 0),"
    "  memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),"
    "  uuid TEXT UNIQUE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  expires_at TEXT CHECK " IS_TS_OR_NULL("expires_at") ","
    "  error TEXT,"
    "  extensions INTEGER NOT NULL DEFAULT 0 CHECK (extensions >= 0),"
    "  vnc_password_sealed TEXT CHECK " IS_SEALED_OR_NULL("vnc_password_sealed") ","
    "  disk_mib INTEGER NOT NULL DEFAULT 0 CHECK (disk_mib >= 0),"
    "  UNIQUE (cohort_id, user_id, idx));"
    "INSERT INTO machines_new (id, name, cohort_id, user_id, host_id, template_name, idx, state,"
    "  vcpus, memory_mib, uuid, created_at, expires_at, error, extensions, vnc_password_sealed)"
    "  SELECT id, name, cohort_id, user_id, host_id, template_name, idx, state, vcpus,"
    "  memory_mib, uuid, created_at, expires_at, error, extensions, vnc_password_sealed"
    "  FROM machines;"
    "DROP TABLE machines;"
    "ALTER TABLE machines_new RENAME TO machines;"
    "CREATE INDEX machines_by_user ON machines(user_id);"
    "CREATE INDEX machines_by_host ON machines(host_id);"
    "CREATE INDEX machines_holding_by_host ON machines(host_id, vcpus, memory_mib, disk_mib)"
    "  WHERE state NOT IN ('reclaimed', 'failed');"

    "CREATE TABLE bases ("
    "  volume TEXT PRIMARY KEY CHECK (volume <> ''),"
    "  source TEXT CHECK (source IS NULL OR source <> ''),"
    "  size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),"
    "  sha256 TEXT CHECK (sha256 IS NULL OR " IS_SHA256("sha256") "),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ");"
    "CREATE TABLE host_bases ("
    "  host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
    "  volume TEXT NOT NULL CHECK (volume <> ''),"
    "  state TEXT NOT NULL CHECK (state IN ('uploading', 'present', 'removed')),"
    "  updated_at TEXT NOT NULL CHECK " IS_TS("updated_at") ","
    "  PRIMARY KEY (host_id, volume)"
    ") WITHOUT ROWID;"
    "CREATE TABLE machine_leftovers ("
    "  machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,"
    "  host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  PRIMARY KEY (host_id, machine_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX machine_leftovers_by_machine ON machine_leftovers(machine_id);"
    "ALTER TABLE job_errors ADD COLUMN host TEXT;"
    "ALTER TABLE jobs ADD COLUMN bytes_done INTEGER NOT NULL DEFAULT 0 CHECK (bytes_done >= 0);"
    "ALTER TABLE jobs ADD COLUMN bytes_total INTEGER NOT NULL DEFAULT 0"
    "  CHECK (bytes_total >= 0);",

    /* 9: a host's accelerator (auto: kvm where libvirt offers it, else TCG), and the address
     * plan: the subnet each cohort's own network has (one per cohort, the same on every host;
     * the row goes when the cohort is reclaimed) */
    "ALTER TABLE hosts ADD COLUMN accel TEXT NOT NULL DEFAULT 'auto'"
    "  CHECK (accel IN ('auto', 'kvm', 'tcg'));"
    "CREATE TABLE cohort_subnets ("
    "  cohort_id INTEGER PRIMARY KEY REFERENCES cohorts(id) ON DELETE CASCADE,"
    "  subnet TEXT NOT NULL UNIQUE CHECK (subnet <> ''),"
    "  first_address INTEGER NOT NULL CHECK (first_address >= 0),"
    "  last_address INTEGER NOT NULL CHECK (last_address >= first_address),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ");",

    /* 10: a machine's identity in its guest (the cloud-init seed): the guest password,
     * sealed like the VNC one, and the seed's generation, which a reset moves on (the
     * instance id cloud-init sees changes, so it sets the machine up again). A user's SSH
     * keys, in the order given. */
    "ALTER TABLE machines ADD COLUMN guest_password_sealed TEXT"
    "  CHECK " IS_SEALED_OR_NULL("guest_password_sealed") ";"
    "ALTER TABLE machines ADD COLUMN seed_generation INTEGER NOT NULL DEFAULT 0"
    "  CHECK (seed_generation >= 0);"
    "CREATE TABLE user_ssh_keys ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL CHECK (idx >= 0),"
    "  key TEXT NOT NULL CHECK (key <> '' AND length(key) <= 8192),"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  PRIMARY KEY (user_id, idx)"
    ") WITHOUT ROWID;",

    /* 11: readiness. A machine is ready once its guest agent is connected (or, for a
     * template whose guest has none, at its first DHCP lease), until it stops, reboots or
     * is reset; when it became ready; the addresses libvirt reports for it, space-separated;
     * and how long after its request it was first ready (the /metrics histogram). */
    "ALTER TABLE machines ADD COLUMN ready INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1));"
    "ALTER TABLE machines ADD COLUMN ready_at TEXT CHECK " IS_TS_OR_NULL("ready_at") ";"
    "ALTER TABLE machines ADD COLUMN addresses TEXT"
    "  CHECK (addresses IS NULL OR length(addresses) <= 1024);"
    "ALTER TABLE machines ADD COLUMN first_ready_s REAL CHECK (first_ready_s >= 0);",

    /* 12: the course calendar. A cohort's time zone (NULL: the installation's) and its
     * trainees' hours a week outside sessions; its timetable's entries, in order; how long
     * each machine took from start to ready, per template and host (the preload's lead
     * time); and the hours each trainee's machines ran outside sessions, per ISO week. */
    "ALTER TABLE cohorts ADD COLUMN time_zone TEXT"
    "  CHECK (time_zone IS NULL OR (time_zone <> '' AND length(time_zone) <= 64));"
    "ALTER TABLE cohorts ADD COLUMN outside_hours_per_week INTEGER NOT NULL DEFAULT 0"
    "  CHECK (outside_hours_per_week >= 0);"
    "CREATE TABLE cohort_schedule ("
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,"
    "  position INTEGER NOT NULL CHECK (position >= 0),"
    "  kind TEXT NOT NULL CHECK (kind IN ('rule', 'one-off', 'cancel')),"
    "  entry TEXT NOT NULL CHECK (entry <> '' AND length(entry) <= 64),"
    "  PRIMARY KEY (cohort_id, position)"
    ") WITHOUT ROWID;"
    "CREATE TABLE boot_durations ("
    "  id INTEGER PRIMARY KEY,"
    "  template_name TEXT NOT NULL CHECK (template_name <> ''),"
    "  host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
    "  seconds REAL NOT NULL CHECK (seconds >= 0),"
    "  measured_at TEXT NOT NULL CHECK " IS_TS("measured_at") ");"
    "CREATE INDEX boot_durations_by_key ON boot_durations(template_name, host_id, id);"
    "CREATE TABLE outside_usage ("
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  week TEXT NOT NULL CHECK (week GLOB '[0-9][0-9][0-9][0-9]-W[0-5][0-9]'),"
    "  seconds INTEGER NOT NULL DEFAULT 0 CHECK (seconds >= 0),"
    "  PRIMARY KEY (cohort_id, user_id, week)"
    ") WITHOUT ROWID;",

    /* 13: the machines' state CHECK as a chain of comparisons, the same values as step 8's
     * IN list: SQLite checks an IN list of more than two constants by building a table of
     * them on every write of the column, about 40,000 instructions each time a machine's
     * state changes (a reclaim writes it twice per machine). The table is made again as in
     * step 7, every column and index as they were. */
    "CREATE TABLE machines_new ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    "  cohort_id INTEGER NOT NULL REFERENCES cohorts(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  host_id INTEGER REFERENCES hosts(id),"
    "  template_name TEXT NOT NULL CHECK (template_name <> ''),"
    "  idx INTEGER NOT NULL CHECK (idx > 0),"
    "  state TEXT NOT NULL CHECK (state = 'requested' OR state = 'provisioning'"
    "                             OR state = 'running' OR state = 'stopped'"
    "                             OR state = 'starting' OR state = 'stopping'"
    "                             OR state = 'rebooting' OR state = 'resetting'"
    "                             OR state = 'moving' OR state = 'reclaiming'"
    "                             OR state = 'reclaimed' OR state = 'failed'),"
    "  vcpus INTEGER NOT NULL CHECK (vcpus > 0),"
    "  memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),"
    "  uuid TEXT UNIQUE,"
    "  created_at TEXT NOT NULL CHECK " IS_TS("created_at") ","
    "  expires_at TEXT CHECK " IS_TS_OR_NULL("expires_at") ","
    "  error TEXT,"
    "  extensions INTEGER NOT NULL DEFAULT 0 CHECK (extensions >= 0),"
    "  vnc_password_sealed TEXT CHECK " IS_SEALED_OR_NULL("vnc_password_sealed") ","
    "  disk_mib INTEGER NOT NULL DEFAULT 0 CHECK (disk_mib >= 0),"
    "  guest_password_sealed TEXT CHECK " IS_SEALED_OR_NULL("guest_password_sealed") ","
    "  seed_generation INTEGER NOT NULL DEFAULT 0 CHECK (seed_generation >= 0),"
    "  ready INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1)),"
    "  ready_at TEXT CHECK " IS_TS_OR_NULL("ready_at") ","
    "  addresses TEXT CHECK (addresses IS NULL OR length(addresses) <= 1024),"
    "  first_ready_s REAL CHECK (first_ready_s >= 0),"
    "  UNIQUE (cohort_id, user_id, idx));"
    "INSERT INTO machines_new (id, name, cohort_id, user_id, host_id, template_name, idx, state,"
    "  vcpus, memory_mib, uuid, created_at, expires_at, error, extensions, vnc_password_sealed,"
    "  disk_mib, guest_password_sealed, seed_generation, ready, ready_at, addresses,"
    "  first_ready_s)"
    "  SELECT id, name, cohort_id, user_id, host_id, template_name, idx, state, vcpus,"
    "  memory_mib, uuid, created_at, expires_at, error, extensions, vnc_password_sealed,"
    "  disk_mib, guest_password_sealed, seed_generation, ready, ready_at, addresses,"
    "  first_ready_s"
    "  FROM machines;"
    "DROP TABLE machines;"
    "ALTER TABLE machines_new RENAME TO machines;"
    "CREATE INDEX machines_by_user ON machines(user_id);"
    "CREATE INDEX machines_by_host ON machines(host_id);"
    "CREATE INDEX machines_holding_by_host ON machines(host_id, vcpus, memory_mib, disk_mib)"
    "  WHERE state NOT IN ('reclaimed', 'failed');",
};
/* clang-format on */

static gboolean
cohort_store_migrations_exec(sqlite3 *db, const gchar *sql, GError **error)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, sqlite3_errmsg(db));
        return FALSE;
    }
    return TRUE;
}

/* What SQL alone cannot do: seal the clear passwords an older database holds, then drop
 * their column. secure_delete overwrites the cells the clear values leave; the checkpoint
 * after the last step (cohort_store_migrations_apply) empties the WAL. */
static gboolean
cohort_store_migration_seal_vnc_passwords(sqlite3 *db, const CohortSecretKey *key, GError **error)
{
    g_autoptr(sqlite3_stmt) select = NULL;
    g_autoptr(sqlite3_stmt) update = NULL;
    gint rc;

    if (sqlite3_exec(db, "PRAGMA secure_delete = ON", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT id, name, vnc_password FROM machines"
                           " WHERE vnc_password IS NOT NULL",
                           -1, &select, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE machines SET vnc_password_sealed = ?2 WHERE id = ?1", -1,
                           &update, NULL) != SQLITE_OK) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, sqlite3_errmsg(db));
        return FALSE;
    }
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
        g_autofree gchar *context = g_strconcat(
            COHORT_STORE_CONTEXT_VNC_PASSWORD, (const gchar *)sqlite3_column_text(select, 1), NULL);
        g_autofree gchar *sealed =
            cohort_secret_seal(key, context, (const gchar *)sqlite3_column_text(select, 2), error);
        if (sealed == NULL)
            return FALSE;
        sqlite3_reset(update);
        sqlite3_bind_int64(update, 1, sqlite3_column_int64(select, 0));
        sqlite3_bind_text(update, 2, sealed, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(update) != SQLITE_DONE) {
            g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, sqlite3_errmsg(db));
            return FALSE;
        }
    }
    if (rc != SQLITE_DONE) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, sqlite3_errmsg(db));
        return FALSE;
    }
    return cohort_store_migrations_exec(db, "ALTER TABLE machines DROP COLUMN vnc_password", error);
}

/* Steps with work in C after their SQL, in the same transaction; @scrub: clear secrets left
 * the tables, so the WAL is emptied into the file once every step is applied. */
typedef struct {
    gint version;
    gboolean (*run)(sqlite3 *db, const CohortSecretKey *key, GError **error);
    gboolean scrub;
} CohortStoreMigrationCode;

static const CohortStoreMigrationCode cohort_store_migrations_code[] = {
    {COHORT_STORE_MIGRATION_SEAL_VNC, cohort_store_migration_seal_vnc_passwords, TRUE},
};

static const CohortStoreMigrationCode *
cohort_store_migrations_code_for(gint version)
{
    for (guint i = 0; i < G_N_ELEMENTS(cohort_store_migrations_code); i++) {
        if (cohort_store_migrations_code[i].version == version)
            return &cohort_store_migrations_code[i];
    }
    return NULL;
}

gint
cohort_store_migrations_latest(void)
{
    return (gint)G_N_ELEMENTS(cohort_store_migrations);
}

static gboolean
cohort_store_migrations_get_version(sqlite3 *db, gint *version, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, "reading the schema version: %s",
                    sqlite3_errmsg(db));
        return FALSE;
    }
    *version = sqlite3_column_int(stmt, 0);
    return TRUE;
}

static gboolean
cohort_store_migrations_check_not_newer(gint version, const gchar *path, GError **error)
{
    gint latest = cohort_store_migrations_latest();

    if (version <= latest)
        return TRUE;
    g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                "database %s has schema version %d, newer than the %d this cohortd knows: it was "
                "written by a newer cohortd; run that version, or restore a backup made for "
                "this one",
                path, version, latest);
    return FALSE;
}

/* Foreign keys a step broke (SQLite's recipe for remaking a table checks them before the
 * commit, as the step runs with them off). */
static gboolean
cohort_store_migrations_check_foreign_keys(sqlite3 *db, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    gint rc;

    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &stmt, NULL) != SQLITE_OK) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, sqlite3_errmsg(db));
        return FALSE;
    }
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        g_set_error(error, COHORT_ERROR, COHORT_ERROR_INTERNAL,
                    "a row of table %s refers to a row of %s that does not exist",
                    sqlite3_column_text(stmt, 0), sqlite3_column_text(stmt, 2));
        return FALSE;
    }
    if (rc != SQLITE_DONE) {
        g_set_error_literal(error, COHORT_ERROR, COHORT_ERROR_INTERNAL, sqlite3_errmsg(db));
        return FALSE;
    }
    return TRUE;
}

/* One step, in its own transaction; @applied FALSE when there was none left. The version is
 * read again under the write lock, so two processes opening a new file do not both apply it. */
static gboolean
cohort_store_migrations_step(sqlite3 *db, const gchar *path, const CohortSecretKey *key,
                             gint target, gboolean *applied, gboolean *scrub, GError **error)
{
    const CohortStoreMigrationCode *code;
    gint version = 0;
    g_autofree gchar *set_version = NULL;

    *applied = FALSE;
    if (!cohort_store_migrations_exec(db, "BEGIN IMMEDIATE", error))
        return FALSE;
    if (!cohort_store_migrations_get_version(db, &version, error) ||
        !cohort_store_migrations_check_not_newer(version, path, error)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    if (version >= target)
        return cohort_store_migrations_exec(db, "COMMIT", error);

    /* An integer of ours, not input: PRAGMA takes no bound parameters. */
    set_version = g_strdup_printf("PRAGMA user_version = %d", version + 1);
    code = cohort_store_migrations_code_for(version + 1);
    if (!cohort_store_migrations_exec(db, cohort_store_migrations[version], error) ||
        (code != NULL && !code->run(db, key, error)) ||
        !cohort_store_migrations_check_foreign_keys(db, error) ||
        !cohort_store_migrations_exec(db, set_version, error) ||
        !cohort_store_migrations_exec(db, "COMMIT", error)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        g_prefix_error(error, "applying schema migration %d to %s: ", version + 1, path);
        return FALSE;
    }
    g_info("store %s: applied schema migration %d", path, version + 1);
    *applied = TRUE;
    *scrub = *scrub || (code != NULL && code->scrub);
    return TRUE;
}

gboolean
cohort_store_migrations_apply_upto(sqlite3 *db, const gchar *path, const CohortSecretKey *key,
                                   gint target, GError **error)
{
    gint version = 0;
    gboolean applied = TRUE;
    gboolean scrub = FALSE;
    gboolean ok = TRUE;

    g_return_val_if_fail(db != NULL, FALSE);
    g_return_val_if_fail(key != NULL, FALSE);
    g_return_val_if_fail(target <= cohort_store_migrations_latest(), FALSE);

    /* Refuse a newer database before taking the write lock. */
    if (!cohort_store_migrations_get_version(db, &version, error) ||
        !cohort_store_migrations_check_not_newer(version, path, error))
        return FALSE;
    /* Off outside the transactions (SQLite ignores the pragma inside one): a step that makes a
     * table again drops the old one, which must not cascade to the rows that refer to it. */
    if (!cohort_store_migrations_exec(db, "PRAGMA foreign_keys = OFF", error))
        return FALSE;
    while (applied && ok)
        ok = cohort_store_migrations_step(db, path, key, target, &applied, &scrub, error);
    if (!cohort_store_migrations_exec(db, "PRAGMA foreign_keys = ON", ok ? error : NULL) || !ok)
        return FALSE;
    /* The pages that held clear secrets are in the WAL's older frames until a checkpoint
     * writes the new ones over them in the file and truncates the WAL. */
    if (scrub) {
        gint log = 0;
        gint done = 0;
        if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done) !=
                SQLITE_OK ||
            log != done)
            g_warning("store %s: could not empty the WAL after sealing secrets (%s): run "
                      "cohortd alone once so that it can",
                      path, sqlite3_errmsg(db));
    }
    return TRUE;
}

gboolean
cohort_store_migrations_apply(sqlite3 *db, const gchar *path, const CohortSecretKey *key,
                              GError **error)
{
    return cohort_store_migrations_apply_upto(db, path, key, cohort_store_migrations_latest(),
                                              error);
}
