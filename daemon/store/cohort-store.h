/* The one source of truth: SQLite (WAL, foreign keys, versioned migrations). Used from the
 * main thread only; worker threads send their results back to the main context. */
#pragma once

#include <glib.h>

#include "cohort-secret.h"
#include "cohort-subnet.h"

G_BEGIN_DECLS

typedef struct _CohortStore CohortStore;

/* Rows. Strings are owned by the row; times are RFC 3339 UTC strings ("2026-12-01T08:00:00Z").
 * An id of 0 means "none" (a machine not placed yet has host_id 0). */
typedef struct {
    gint64 id;
    gchar *name;
    gchar *uri;
    gchar *pool;
    guint vcpus;          /* capacity */
    guint64 memory_mib;   /* capacity */
    gdouble cpu_ratio;    /* overcommit: vCPUs allowed = vcpus * cpu_ratio */
    gdouble memory_ratio; /* overcommit for memory */
    gdouble disk_ratio;   /* overcommit of the pool: overlays' planned growth allowed =
                           * what the pool can give them * disk_ratio */
    gchar *state;         /* "up", "draining", "down" */
    gchar *created_at;
    gchar *accel; /* "auto" (kvm where libvirt offers it, else TCG), "kvm", "tcg"; NULL: auto */
} CohortHostRow;

typedef struct {
    gint64 id;
    gchar *login;
    gchar *display_name;
    gchar *role; /* "admin", "trainer", "trainee" */
    gchar *created_at;
} CohortUserRow;

typedef struct {
    gint64 id;
    gchar *slug;
    gchar *title;
    gchar *template_name;
    gint64 trainer_id;
    gchar *trainer_login; /* filled by the getters (join) */
    gchar *starts_at;
    gchar *ends_at;
    guint grace_hours;
    guint quota_machines; /* per trainee */
    guint quota_vcpus;    /* per trainee */
    guint64 quota_memory_mib;
    gchar *state; /* "planned", "active", "ended", "reclaimed" */
    gchar *created_at;
    gchar *network;   /* "isolated" (its own), or a shared libvirt network's name */
    gchar *placement; /* "spread", "pack", or NULL: the installation's */
} CohortCohortRow;

typedef struct {
    gint64 id;
    gchar *name; /* libvirt domain name, unique */
    gint64 cohort_id;
    gchar *cohort_slug; /* filled by the getters (join) */
    gint64 user_id;
    gchar *trainee_login; /* filled by the getters (join) */
    gint64 host_id;
    gchar *host_name; /* filled by the getters (join), NULL when not placed */
    gchar *template_name;
    guint idx;    /* the trainee's n-th machine in the cohort, from 1 */
    gchar *state; /* requested provisioning running stopped starting stopping rebooting
                   * resetting moving reclaiming reclaimed failed */
    guint vcpus;
    guint64 memory_mib;
    guint64 disk_mib; /* planned: the overlay may grow to it (0 in rows from before) */
    gchar *uuid;
    gchar *created_at;
    gchar *expires_at; /* NULL: none */
    gchar *error;      /* NULL unless failed */
    gboolean ready;    /* the guest agent is connected (or the first lease came) */
    gchar *ready_at;   /* NULL unless ready */
    gchar *addresses;  /* space-separated IPv4/IPv6 addresses, NULL: none known */
} CohortMachineRow;

typedef struct {
    gint64 id;
    gchar *kind;    /* "provision", "reclaim", "reset", ... */
    gint64 user_id; /* who started it */
    gchar *target;  /* e.g. the cohort slug */
    gchar *state;   /* "queued", "running", "done", "failed" */
    guint total;
    guint done;
    guint failed;
    gchar *created_at;
    gchar *finished_at; /* NULL while not finished */
    guint64 bytes_done; /* of what it sends (uploads, disks moved): recorded per item */
    guint64 bytes_total;
} CohortJobRow;

typedef struct {
    gchar *machine; /* machine name, NULL for an error of a host */
    gchar *code;    /* stable API error code */
    gchar *message;
    gchar *host; /* the host it happened on, when the job says (NULL otherwise) */
} CohortJobErrorRow;

/* A template base: where it came from, so that hosts added later get it too. */
typedef struct {
    gchar *volume;
    gchar *source; /* the image file on cohortd's machine; NULL: a blank base */
    guint64 size_bytes;
    gchar *sha256; /* of the file, NULL for a blank base */
    gchar *created_at;
} CohortBaseRow;

typedef struct {
    gint64 id;
    gchar *at;
    gchar *actor;  /* login, or "system" */
    gchar *action; /* e.g. "cohort.create" */
    gchar *target;
    gchar *result; /* "ok" or an error code */
    gchar *detail; /* NULL or a message */
} CohortAuditRow;

void cohort_host_row_free(CohortHostRow *row);
void cohort_user_row_free(CohortUserRow *row);
CohortUserRow *cohort_user_row_copy(const CohortUserRow *row);
void cohort_cohort_row_free(CohortCohortRow *row);
void cohort_machine_row_free(CohortMachineRow *row);
void cohort_job_row_free(CohortJobRow *row);
void cohort_job_error_row_free(CohortJobErrorRow *row);
void cohort_audit_row_free(CohortAuditRow *row);
void cohort_base_row_free(CohortBaseRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortHostRow, cohort_host_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortUserRow, cohort_user_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortCohortRow, cohort_cohort_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortMachineRow, cohort_machine_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortJobRow, cohort_job_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortJobErrorRow, cohort_job_error_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortAuditRow, cohort_audit_row_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortBaseRow, cohort_base_row_free)

/* The current time as the store writes it. */
gchar *cohort_store_now(void);

/* @path ":memory:" for tests. Creates the file, applies the pending migrations. @key (the
 * store takes it) seals the secrets the store keeps: a database whose secrets it does not
 * open is refused. */
CohortStore *cohort_store_open(const gchar *path, CohortSecretKey *key, GError **error);
void cohort_store_free(CohortStore *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortStore, cohort_store_free)
gint cohort_store_get_schema_version(CohortStore *self);

/* An online copy of the database file @path into @dest (cohortd --backup), while cohortd may
 * be running: SQLite's backup API, read-only, no migration. */
gboolean cohort_store_backup_file(const gchar *path, const gchar *dest, GError **error);

/* Multi-row changes: begin, then commit or rollback. Not nestable. */
gboolean cohort_store_begin(CohortStore *self, GError **error);
gboolean cohort_store_commit(CohortStore *self, GError **error);
void cohort_store_rollback(CohortStore *self);

/* A group commit (cohort-store-group.c): the writes of requests that arrive in one turn of
 * the main loop, committed once. join() instead of begin(), then commit() or rollback() as
 * usual; a member's commit is a savepoint's, and wait() says what to call once the group's
 * transaction has committed (@error NULL) or failed. That is on the main loop's next turn,
 * or at settle() (cohortd's stop); anyone else's write commits the group first. */
typedef void (*CohortStoreGroupDone)(const GError *error, gpointer user_data);
gboolean cohort_store_group_join(CohortStore *self, GError **error);
void cohort_store_group_wait(CohortStore *self, CohortStoreGroupDone done, gpointer user_data,
                             GDestroyNotify destroy);
gboolean cohort_store_group_is_open(CohortStore *self);
void cohort_store_group_settle(CohortStore *self);

/* Errors: a UNIQUE violation is COHORT_ERROR_CONFLICT, a missing row COHORT_ERROR_NOT_FOUND,
 * a broken foreign key COHORT_ERROR_INVALID_ARGUMENT, the rest COHORT_ERROR_INTERNAL; every
 * message says which object. Inserts set row->id (and created_at when NULL). */
/* A CHECK or NOT NULL violation (a state or role outside the lists above, a quota or size of 0,
 * a time not shaped like cohort_store_now()'s, a token or code hash that is not 64 lowercase
 * hex) is COHORT_ERROR_INVALID_ARGUMENT too. Unsigned fields are stored as signed: a -1 that
 * wrapped to G_MAXUINT is refused as negative. Inserts fill a NULL state with the first state
 * (host "up", cohort "planned", machine "requested", job "queued") and a host's 0 ratios
 * with 1.0, in the row too. */

/* hosts */
gboolean cohort_store_host_insert(CohortStore *self, CohortHostRow *row, GError **error);
CohortHostRow *cohort_store_host_get_by_name(CohortStore *self, const gchar *name, GError **error);
CohortHostRow *cohort_store_host_get_by_id(CohortStore *self, gint64 id, GError **error);
GPtrArray * /* of CohortHostRow, by name */
cohort_store_host_list(CohortStore *self, GError **error);
gboolean cohort_store_host_set_state(CohortStore *self, gint64 id, const gchar *state,
                                     GError **error);
/* Capacity learnt from libvirt's node info (0 in a row means "ask libvirt"). */
gboolean cohort_store_host_set_capacity(CohortStore *self, gint64 id, guint vcpus,
                                        guint64 memory_mib, GError **error);
/* Writes uri, pool, vcpus, memory_mib and the ratios of @row (matched by id). */
gboolean cohort_store_host_update(CohortStore *self, const CohortHostRow *row, GError **error);
/* vCPUs and memory of the machines placed on the host that are not reclaimed or failed. */
gboolean cohort_store_host_get_usage(CohortStore *self, gint64 id, guint *vcpus,
                                     guint64 *memory_mib, GError **error);
/* What placement counts on a host: the machines placed there that hold resources (not
 * reclaimed, not failed), their vCPUs, memory and planned disk. */
typedef struct {
    guint machines;
    guint vcpus;
    guint64 memory_mib;
    guint64 disk_mib;
} CohortHostUsage;
gboolean cohort_store_host_get_usage_full(CohortStore *self, gint64 id, CohortHostUsage *usage,
                                          GError **error);

/* Machines placed on the host that are not reclaimed (failed ones count: they may leave
 * something on the host), and the slugs of their cohorts, sorted. */
gboolean cohort_store_host_get_living(CohortStore *self, gint64 id, guint *machines,
                                      GPtrArray **cohorts, GError **error);
/* Deletes the host, in one transaction: COHORT_ERROR_CONFLICT while a machine that is not
 * reclaimed is placed there; its reclaimed machines keep their rows, with no host (their
 * number in @detached). Its id is never given to another host. */
gboolean cohort_store_host_delete(CohortStore *self, gint64 id, guint *detached, GError **error);

/* users and tokens (tokens are stored as their SHA-256 hex, never in clear) */
gboolean cohort_store_user_insert(CohortStore *self, CohortUserRow *row, GError **error);
CohortUserRow *cohort_store_user_get_by_login(CohortStore *self, const gchar *login,
                                              GError **error);
CohortUserRow *cohort_store_user_get_by_id(CohortStore *self, gint64 id, GError **error);
GPtrArray * /* of CohortUserRow, by login; @role NULL for all */
cohort_store_user_list(CohortStore *self, const gchar *role, GError **error);
gboolean cohort_store_token_insert(CohortStore *self, gint64 user_id, const gchar *token_hash,
                                   GError **error);
/* The user of a token that is not revoked; NOT_FOUND otherwise. */
CohortUserRow *cohort_store_token_lookup(CohortStore *self, const gchar *token_hash,
                                         GError **error);
/* Revokes every token of the user; returns how many through @count (may be NULL). */
gboolean cohort_store_token_revoke_user(CohortStore *self, gint64 user_id, guint *count,
                                        GError **error);

/* invitations: single use, expiring */
gboolean cohort_store_invitation_insert(CohortStore *self, gint64 user_id, gint64 cohort_id,
                                        const gchar *code_hash, const gchar *expires_at,
                                        GError **error);
/* Deletes the codes of @user_id that were never redeemed (a new one replaces them), those of
 * @cohort_id only, or every cohort's for 0; @count, if given, says how many. */
gboolean cohort_store_invitation_withdraw_unused(CohortStore *self, gint64 user_id,
                                                 gint64 cohort_id, guint *count, GError **error);
/* When the last of @user_id's codes that are neither redeemed nor expired at @now expires, in
 * @expires_at; NULL there when they have none. */
gboolean cohort_store_invitation_pending(CohortStore *self, gint64 user_id, const gchar *now,
                                         gchar **expires_at, GError **error);
/* Marks the invitation used and returns its user id; NOT_FOUND for an unknown, used or
 * expired (expires_at <= @now) code, all three alike so codes cannot be probed. 0 on error. */
gint64 cohort_store_invitation_redeem(CohortStore *self, const gchar *code_hash, const gchar *now,
                                      GError **error);

/* cohorts and enrollments */
gboolean cohort_store_cohort_insert(CohortStore *self, CohortCohortRow *row, GError **error);
CohortCohortRow *cohort_store_cohort_get_by_slug(CohortStore *self, const gchar *slug,
                                                 GError **error);
CohortCohortRow *cohort_store_cohort_get_by_id(CohortStore *self, gint64 id, GError **error);
/* @trainer_id > 0: that trainer's; @trainee_id > 0: those the trainee is enrolled in;
 * both 0: all. By slug. */
GPtrArray *cohort_store_cohort_list(CohortStore *self, gint64 trainer_id, gint64 trainee_id,
                                    GError **error);
/* planned, active, ended (by its dates, now) or reclaimed (stored). */
const gchar *cohort_store_cohort_state(const CohortCohortRow *cohort);
/* Writes title, ends_at, grace_hours, quota_*, state and placement of @row (matched by id). */
gboolean cohort_store_cohort_update(CohortStore *self, const CohortCohortRow *row, GError **error);
/* Adding an enrollment that exists is not an error. */
gboolean cohort_store_enrollment_insert(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                        GError **error);
gboolean cohort_store_enrollment_exists(CohortStore *self, gint64 cohort_id, gint64 user_id);
/* Removing an enrollment that does not exist is not an error. */
gboolean cohort_store_enrollment_delete(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                        GError **error);
GPtrArray * /* of CohortUserRow, by login */
cohort_store_enrollment_list(CohortStore *self, gint64 cohort_id, GError **error);

/* rosters, in bulk: a roster is staged (every entry in a temporary table), the roles of the
 * accounts it names that exist are read, and it is imported with a few statements over the
 * whole table, inside the caller's transaction. 10,000 entries take milliseconds this way,
 * not the seconds of statements per entry. */
typedef struct {
    const gchar *login;
    const gchar *display_name;
    const gchar *code_hash; /* the invitation a new account gets */
} CohortStoreRosterEntry;
gboolean cohort_store_roster_stage(CohortStore *self, GPtrArray *entries, GError **error);
/* login -> role of the staged logins that have an account. */
GHashTable *cohort_store_roster_staged_roles(CohortStore *self, GError **error);
/* Makes the staged logins without an account trainees, each with its invitation to @cohort_id
 * (expiring @expires_at), and enrols every staged login; @enrolled says how many were not yet.
 * Empties the stage. */
gboolean cohort_store_roster_import(CohortStore *self, gint64 cohort_id, const gchar *expires_at,
                                    guint *enrolled, GError **error);

/* A user's SSH keys (normalized authorized_keys lines), in the order given; set replaces
 * them all in one transaction. */
GPtrArray *cohort_store_user_get_ssh_keys(CohortStore *self, gint64 user_id, GError **error);
gboolean cohort_store_user_set_ssh_keys(CohortStore *self, gint64 user_id, const gchar *const *keys,
                                        GError **error);

/* machines */
/* @vnc_password (NULL for none) is stored sealed; rows never carry it: it leaves the store
 * only through cohort_store_machine_get_vnc_password(). */
gboolean cohort_store_machine_insert(CohortStore *self, CohortMachineRow *row,
                                     const gchar *vnc_password, GError **error);
/* The same with the guest password (sealed, as cohort_store_machine_set_guest_password()
 * writes it) in the same row: a new machine's seed needs no second write. */
gboolean cohort_store_machine_insert_seeded(CohortStore *self, CohortMachineRow *row,
                                            const gchar *vnc_password, const gchar *guest_password,
                                            GError **error);
/* The machine's VNC password in clear; NULL with NOT_FOUND when it has none, INTERNAL when
 * its sealed value does not open (altered, or another key). */
gchar *cohort_store_machine_get_vnc_password(CohortStore *self, gint64 id, GError **error);
/* The guest's side of a machine (its cloud-init seed): a guest password, sealed at rest like
 * the VNC one (it leaves the store only through cohort_store_machine_get_guest()), and the
 * seed's generation. set: the first password; renew (a reset): a new one and the next
 * generation, so that the guest is told it is a new instance. */
gboolean cohort_store_machine_set_guest_password(CohortStore *self, gint64 id, const gchar *clear,
                                                 GError **error);
gboolean cohort_store_machine_renew_guest(CohortStore *self, gint64 id, const gchar *clear,
                                          GError **error);
/* *@password NULL (and TRUE) when the machine has none yet (rows from before). */
gboolean cohort_store_machine_get_guest(CohortStore *self, gint64 id, gchar **password,
                                        guint *generation, GError **error);
CohortMachineRow *cohort_store_machine_get_by_id(CohortStore *self, gint64 id, GError **error);
CohortMachineRow *cohort_store_machine_get_by_name(CohortStore *self, const gchar *name,
                                                   GError **error);
/* The ids of cohort @cohort_id's machines that are not reclaimed, by id: what a reclaim
 * takes, without a row's copy each. */
GArray *cohort_store_machine_list_live_ids(CohortStore *self, gint64 cohort_id, GError **error);
/* Filters are ANDed; 0 means any. @trainer_id: machines of that trainer's cohorts.
 * @include_reclaimed FALSE hides reclaimed rows. By id. */
GPtrArray *cohort_store_machine_list(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                     gint64 trainer_id, gboolean include_reclaimed, GError **error);
/* A trainee's live machines (in @cohort_id, 0: all), as cohort_store_machine_list() lists
 * them, but the rows the store keeps between requests themselves: read them, change nothing,
 * g_ptr_array_unref() when done. A trainee's list answer reads no copy. */
GPtrArray *cohort_store_machine_list_shared(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                            GError **error);
/* Sets state and error (NULL clears it). */
gboolean cohort_store_machine_set_state(CohortStore *self, gint64 id, const gchar *state,
                                        const gchar *error_message, GError **error);
/* Readiness: @ready sets ready_at to now (kept when it was ready already) and, the first
 * time, how long after the machine's request that was (cohort_store_machine_ready_histogram);
 * not ready clears ready_at. @addresses (space-separated, NULL: unchanged) replaces what is
 * known. Only a machine that runs or is on its way to (provisioning, starting, rebooting,
 * resetting: the agent may connect before the work is settled) becomes ready; *@changed says
 * whether anything changed (may be NULL). Changing the state to anything but running makes a
 * machine not ready (cohort_store_machine_set_state). */
gboolean cohort_store_machine_set_ready(CohortStore *self, gint64 id, gboolean ready,
                                        const gchar *addresses, gboolean *changed, GError **error);
/* The addresses libvirt reports for the machine (space-separated), readiness unchanged. */
gboolean cohort_store_machine_set_addresses(CohortStore *self, gint64 id, const gchar *addresses,
                                            GError **error);
/* How many machines were first ready within each of @bounds seconds (cumulative, as
 * Prometheus counts buckets; @counts has @n_bounds + 1 elements, the last for all), and the
 * sum of their seconds. */
gboolean cohort_store_machine_ready_histogram(CohortStore *self, const gdouble *bounds,
                                              guint n_bounds, guint64 *counts, gdouble *sum,
                                              GError **error);
gboolean cohort_store_machine_set_host(CohortStore *self, gint64 id, gint64 host_id,
                                       GError **error);
/* What the trainee holds in the cohort now (not reclaimed, not failed). */
gboolean cohort_store_machine_get_holdings(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                           guint *machines, guint *vcpus, guint64 *memory_mib,
                                           GError **error);
/* 1 + the highest idx the trainee ever had in the cohort (names are never reused); 0 on
 * error. */
guint cohort_store_machine_next_idx(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                    GError **error);
/* Counts by state over all machines not reclaimed, for /metrics: state -> count, as
 * GUINT_TO_POINTER(). Every state but "reclaimed" is a key, with 0 when no machine has it. */
GHashTable *cohort_store_machine_count_by_state(CohortStore *self, GError **error);

/* jobs */
gboolean cohort_store_job_insert(CohortStore *self, CohortJobRow *row, GError **error);
CohortJobRow *cohort_store_job_get(CohortStore *self, gint64 id, GError **error);
/* Writes state, total, done, failed and finished_at of @row (matched by id). */
gboolean cohort_store_job_update(CohortStore *self, const CohortJobRow *row, GError **error);
gboolean cohort_store_job_error_insert(CohortStore *self, gint64 job_id, const gchar *machine,
                                       const gchar *code, const gchar *message, GError **error);
/* An error of a job's item on @host (a base upload, a machine moved); @machine may be NULL. */
gboolean cohort_store_job_error_insert_host(CohortStore *self, gint64 job_id, const gchar *host,
                                            const gchar *machine, const gchar *code,
                                            const gchar *message, GError **error);
GPtrArray * /* of CohortJobErrorRow, in order of insertion */
cohort_store_job_error_list(CohortStore *self, gint64 job_id, GError **error);

/* template bases (cohort-store-bases.c) */
/* Records where @row->volume comes from (replacing what was recorded). */
gboolean cohort_store_base_set(CohortStore *self, const CohortBaseRow *row, GError **error);
/* NOT_FOUND when nothing is recorded (a base made before cohortd recorded them). */
CohortBaseRow *cohort_store_base_get(CohortStore *self, const gchar *volume, GError **error);
/* A base on a host: "uploading" is written before the first byte goes, "present" once the
 * upload is verified; a base that is "uploading" on a host is not used and is made again.
 * "removed": an admin removed it from the host, which is not given it again by itself. */
gboolean cohort_store_host_base_set(CohortStore *self, gint64 host_id, const gchar *volume,
                                    const gchar *state, GError **error);
gboolean cohort_store_host_base_delete(CohortStore *self, gint64 host_id, const gchar *volume,
                                       GError **error);
/* volume -> state of what is recorded on the host. */
GHashTable *cohort_store_host_base_list(CohortStore *self, gint64 host_id, GError **error);
/* Machines living on @host_id made from a template whose base is @volume (@templates: the
 * names of those templates, NULL-terminated); how many, 0 when none. */
gboolean cohort_store_host_base_count_users(CohortStore *self, gint64 host_id,
                                            const gchar *const *templates, guint *machines,
                                            GError **error);

/* the address plan: the subnet of each cohort's own network ("10.200.3.0/24") */
/* NULL without an error when the cohort has none. */
gchar *cohort_store_subnet_get(CohortStore *self, gint64 cohort_id, GError **error);
/* Every subnet allocated, by address. */
GPtrArray *cohort_store_subnet_list(CohortStore *self, GError **error);
/* The cohort's subnet: the one it holds, or the first /@prefix of @range that overlaps no
 * other cohort's and none of @avoid (the networks already on the hosts), recorded.
 * COHORT_ERROR_NO_CAPACITY saying what to change when the range is full. */
gchar *cohort_store_subnet_allocate(CohortStore *self, gint64 cohort_id, const CohortSubnet *range,
                                    guint prefix, const CohortSubnet *avoid, guint n_avoid,
                                    GError **error);
gboolean cohort_store_subnet_free(CohortStore *self, gint64 cohort_id, GError **error);
/* Frees the subnets of reclaimed cohorts with no machine left and no reclaim under way (what
 * a crash between the last teardown and the free left), but those of the slugs in @keep (a
 * set, may be NULL: their networks are still on a host). */
gboolean cohort_store_subnet_free_reclaimed(CohortStore *self, GHashTable *keep, guint *freed,
                                            GError **error);

/* leftovers: what a machine moved away from a host that was down left there */
gboolean cohort_store_leftover_insert(CohortStore *self, gint64 machine_id, gint64 host_id,
                                      GError **error);
gboolean cohort_store_leftover_delete(CohortStore *self, gint64 machine_id, gint64 host_id,
                                      GError **error);
/* The ids (gint64) of the machines that left something on the host. */
GArray *cohort_store_leftover_list(CohortStore *self, gint64 host_id, GError **error);

/* audit */
gboolean cohort_store_audit_insert(CohortStore *self, const gchar *actor, const gchar *action,
                                   const gchar *target, const gchar *result, const gchar *detail,
                                   GError **error);
/* Records what @actor (NULL: "anonymous") did and its @result (NULL: ok; an error: its code
 * and message); a failure to record is logged, never the caller's failure. */
void cohort_store_audit_record(CohortStore *self, const gchar *actor, const gchar *action,
                               const gchar *target, const GError *result);
GPtrArray * /* of CohortAuditRow, newest first, at most @limit */
cohort_store_audit_list(CohortStore *self, guint limit, GError **error);

/* lifecycle */
/* This installation's UUID, made on first use: every machine's tag carries it. */
gchar *cohort_store_get_instance_id(CohortStore *self, GError **error);
/* A bulk job's machines, written with the rows and the job in one transaction: a job that a
 * stop or a crash interrupted goes on after the restart with those whose outcome is not
 * recorded. @held: the machine holds host resources (it has not failed). */
/* Every machine of job @job_id (its job_machines rows) in @state, error cleared: one
 * statement for a reclaim's intent. */
gboolean cohort_store_job_machines_set_state(CohortStore *self, gint64 job_id, const gchar *state,
                                             GError **error);
/* Every machine of cohort @cohort_id that is not reclaimed joins job @job_id, held unless
 * failed (the machines cohort_store_machine_list_live_ids() lists): one statement. */
gboolean cohort_store_job_machines_insert_cohort(CohortStore *self, gint64 job_id, gint64 cohort_id,
                                                 GError **error);
gboolean cohort_store_job_machine_insert(CohortStore *self, gint64 job_id, gint64 machine_id,
                                         gboolean held, GError **error);
/* Whether the machine held host resources (vCPUs, memory) when the job took it: a reclaim
 * counts those of the machines that had not failed. TRUE when the job did not record it. */
gboolean cohort_store_job_machine_get_held(CohortStore *self, gint64 job_id, gint64 machine_id);
/* Records the machine's outcome in the job once: *@counted is FALSE when it was already
 * recorded (or the machine is not the job's), and the job's counts must not change. */
gboolean cohort_store_job_machine_settle(CohortStore *self, gint64 job_id, gint64 machine_id,
                                         gboolean failed, gboolean *counted, GError **error);
/* The oldest queued or running job of @kind ("provision", "reclaim") that waits for the
 * machine's outcome; 0 for none. */
gint64 cohort_store_job_machine_find_unfinished(CohortStore *self, gint64 machine_id,
                                                const gchar *kind);
/* The oldest queued or running job of @kind on @target (a cohort's slug); 0 for none. */
gint64 cohort_store_job_find_unfinished(CohortStore *self, const gchar *kind, const gchar *target);
/* Jobs still queued or running, oldest first. */
GPtrArray * /* of CohortJobRow */
cohort_store_job_list_unfinished(CohortStore *self, GError **error);
/* The ids (gint64) of the job's machines whose outcome is not recorded; @recorded, if given,
 * gets how many machines the job recorded in all. */
GArray *cohort_store_job_machine_list_pending(CohortStore *self, gint64 job_id, guint *recorded,
                                              GError **error);
/* Running time: a run opens when a machine starts and closes when it stops or goes. */
gboolean cohort_store_machine_run_begin(CohortStore *self, gint64 machine_id, GError **error);
gboolean cohort_store_machine_run_end(CohortStore *self, gint64 machine_id, GError **error);
/* Leases: a machine of a cohort with lease_hours > 0 expires that long after it is made,
 * and may be extended lease_max_extensions times by as long again. */
gboolean cohort_store_cohort_get_lease(CohortStore *self, gint64 cohort_id, guint *hours,
                                       guint *max_extensions, GError **error);
gboolean cohort_store_cohort_set_lease(CohortStore *self, gint64 cohort_id, guint hours,
                                       guint max_extensions, GError **error);
/* When a cohort's lease changes for the machines it already has: with @expires_at NULL
 * (no lease any more), every expiry and extension count is cleared; otherwise machines
 * that had no expiry get @expires_at. */
gboolean cohort_store_cohort_apply_lease(CohortStore *self, gint64 cohort_id,
                                         const gchar *expires_at, GError **error);
/* Sets the expiry; with @extension, counts one more extension. */
gboolean cohort_store_machine_set_expiry(CohortStore *self, gint64 machine_id,
                                         const gchar *expires_at, gboolean extension,
                                         GError **error);
guint cohort_store_machine_get_extensions(CohortStore *self, gint64 machine_id, GError **error);
/* What a reclaim job freed, one machine at a time (@machines 0 for one that held no host
 * resources, such as a failed machine whose leftover disk was deleted). */
gboolean cohort_store_job_add_freed(CohortStore *self, gint64 job_id, guint machines, guint vcpus,
                                    guint64 memory_mib, guint64 disk_bytes, GError **error);
gboolean cohort_store_job_get_freed(CohortStore *self, gint64 job_id, guint *machines, guint *vcpus,
                                    guint64 *memory_mib, guint64 *disk_bytes, guint *networks,
                                    GError **error);
/* The cohort networks a reclaim removed, when its last machine was gone. */
gboolean cohort_store_job_add_freed_networks(CohortStore *self, gint64 job_id, guint networks,
                                             GError **error);
/* Machine-hours in a cohort, of one trainee (@user_id > 0) or all, open runs until now. */
/* The same for every trainee of the cohort at once: user id (gint64) -> hours (gdouble);
 * @total gets the cohort's. Trainees without a run are not in it. */
GHashTable *cohort_store_machine_get_running_hours_by_user(CohortStore *self, gint64 cohort_id,
                                                           gdouble *total, GError **error);
gdouble cohort_store_machine_get_running_hours(CohortStore *self, gint64 cohort_id, gint64 user_id,
                                               GError **error);
/* What the machines of a cohort that hold resources (neither reclaimed nor failed) hold now,
 * per trainee: user id (gint64) -> CohortMachineHeld. Trainees without one are not in it. */
typedef struct {
    guint machines;
    guint vcpus;
    guint64 memory_mib;
} CohortMachineHeld;
GHashTable *cohort_store_machine_get_held_by_user(CohortStore *self, gint64 cohort_id,
                                                  GError **error);

G_END_DECLS
