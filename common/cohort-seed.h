/* A machine's cloud-init NoCloud seed: the "cidata" disc (ISO 9660 with Joliet and Rock
 * Ridge, made in memory with libisofs) holding meta-data and user-data, and the guest
 * password it carries as a SHA-512 crypt hash only. Pure: no libvirt, no store. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The volume id cloud-init's NoCloud source looks for. */
#define COHORT_SEED_VOLUME_ID "cidata"

/* What one machine's seed says. Strings are borrowed. */
typedef struct {
    const gchar *instance_id;     /* changes on every reset: cloud-init runs again */
    const gchar *hostname;        /* local-hostname and the hostname */
    const gchar *user;            /* the account made with sudo */
    const gchar *gecos;           /* the trainee's display name; NULL: none */
    const gchar *password_hash;   /* "$6$…"; NULL: no password (keys only) */
    const gchar *const *ssh_keys; /* NULL-terminated; NULL: none */
    gboolean install_agent;       /* install and start qemu-guest-agent */
} CohortSeedSpec;

/* @text as a JSON string literal, quotes included, which YAML 1.1 and 1.2 read as the same
 * string: \" \\ and \uXXXX for control characters and what YAML may not carry raw (DEL, C1
 * controls but NEL, U+FFFE, U+FFFF, and U+2028/U+2029 which JSON parsers of old split on).
 * Whatever @text holds, it stays one scalar. @text must be valid UTF-8. */
gchar *cohort_seed_quote(const gchar *text);

/* The two files of the seed. */
gchar *cohort_seed_meta_data(const CohortSeedSpec *spec);
gchar *cohort_seed_user_data(const CohortSeedSpec *spec);

/* Checks @spec: instance id, hostname (an RFC 1123 label, 1..63) and user (a POSIX account
 * name, [a-z_][a-z0-9_-]{0,31}) are set; the hash, when set, is a SHA-512 crypt one; keys
 * and gecos are valid UTF-8. COHORT_ERROR_INVALID_ARGUMENT naming the field. */
gboolean cohort_seed_spec_validate(const CohortSeedSpec *spec, GError **error);

/* The ISO image of the seed, made in memory. */
GBytes *cohort_seed_build(const CohortSeedSpec *spec, GError **error);

/* Reads an ISO image made by cohort_seed_build() (or any): its volume id, whether it has
 * Rock Ridge and Joliet, and the files of its root directory (name → GBytes). For tests and
 * checks; an image that is not ISO 9660 is COHORT_ERROR_INVALID_ARGUMENT. */
GHashTable *cohort_seed_image_read(GBytes *image, gchar **volume_id, gboolean *rockridge,
                                   gboolean *joliet, GError **error);

/* A random guest password: 16 characters from an alphabet without look-alikes (about 90
 * bits), from the kernel's CSPRNG. */
gchar *cohort_seed_password_new(void);
/* The SHA-512 crypt hash ("$6$" + a random salt) of @clear, through libcrypt's crypt_r. */
gchar *cohort_seed_password_hash(const gchar *clear, GError **error);
/* Whether @hash is @clear's (crypt_r again, compared in constant time). */
gboolean cohort_seed_password_verify(const gchar *clear, const gchar *hash);

/* The account name of a trainee with @login (a slug): the login itself when it is a valid
 * account name, else "u" + login (an account name must not begin with a digit), cut to 32. */
gchar *cohort_seed_account_for_login(const gchar *login);
/* An RFC 1123 hostname label from @name (a libvirt domain name): cut to 63, no trailing '-'. */
gchar *cohort_seed_hostname_for(const gchar *name);

G_END_DECLS
