/* Cohort's test guest (tests/guest/) for the integration tests on qemu:///system: built from
 * Debian's packages, its kernel and initramfs copied where libvirt's QEMU may read them, and
 * a templates directory with the "guest" template pointing at them. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

typedef struct {
    gchar *image_dir;     /* /var/lib/libvirt/images/cohort-itest-guest-PID: kernel, initrd */
    gchar *templates_dir; /* a temporary directory: guest.xml, guest-noagent.xml */
    gdouble build_s;      /* how long build-guest.sh took (0.0x when cached) */
} CohortTestGuest;

/* Builds (or takes from the cache) the guest and lays out both directories; fails the test
 * with what to install when the packages are missing. */
CohortTestGuest *cohort_test_guest_new(void);
/* Removes both directories. */
void cohort_test_guest_free(CohortTestGuest *guest);
/* "[daemon] templates_dir=…" for cohort_test_qemu_cohort_setup(). */
gchar *cohort_test_guest_daemon_config(CohortTestGuest *guest);

/* Reads the domain's serial console (libvirt's console stream, blocking: the test guest writes
 * to it every 2 s) until a line starting with @begin and, after it, a whole line holding
 * @needle have been seen (one whole report, not the tail of one the console was opened in),
 * and then @more_s seconds more, or until @timeout_s passed; what was read (NULL if the
 * console could not be opened). */
gchar *cohort_test_guest_console_read(virConnectPtr conn, const gchar *domain, const gchar *begin,
                                      const gchar *needle, gdouble more_s, gdouble timeout_s);
/* The value after "KEY=" on the console's last line that starts with @prefix, or NULL. */
gchar *cohort_test_guest_report_value(const gchar *console, const gchar *prefix, const gchar *key);

G_END_DECLS
