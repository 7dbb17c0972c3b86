#define G_LOG_DOMAIN "cohort-client"

#include "config.h"

#include <stdio.h>

#include "cohort-client-commands.h"
#include "cohort-client-error.h"

/* The accelerator as configured, and what auto came to: "auto (tcg)", "kvm", "tcg". */
static gchar *
cohort_ctl_host_accel_text(JsonObject *h)
{
    const gchar *accel = json_object_get_string_member_with_default(h, "accel", NULL);
    JsonNode *effective = json_object_get_member(h, "accel_effective");
    const gchar *in_use = effective != NULL && JSON_NODE_HOLDS_VALUE(effective)
                              ? json_node_get_string(effective)
                              : NULL;

    if (accel == NULL)
        return g_strdup("-");
    if (g_strcmp0(accel, "auto") == 0)
        return g_strdup_printf("auto (%s)", in_use != NULL ? in_use : "?");
    return g_strdup(accel);
}

/* What placement allows (capacity times the ratio) beside what is used. */
static void
cohort_ctl_host_row(CohortTable *table, JsonObject *h)
{
    JsonNode *disk = json_object_get_member(h, "allowed_disk_mib");
    gchar *cells[] = {
        cohort_client_member_text(h, "name"),
        cohort_client_member_text(h, "state"),
        cohort_client_member_text(h, "machines"),
        cohort_client_allowed_text(h, "used_vcpus", "allowed_vcpus", "vcpus", "cpu_ratio"),
        cohort_client_allowed_text(h, "used_memory_mib", "allowed_memory_mib", "memory_mib",
                                   "memory_ratio"),
        disk != NULL && JSON_NODE_HOLDS_VALUE(disk)
            ? g_strdup_printf("%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
                              json_object_get_int_member_with_default(h, "used_disk_mib", 0),
                              json_node_get_int(disk))
            : cohort_client_member_text(h, "used_disk_mib"),
        cohort_ctl_host_accel_text(h),
        cohort_client_member_text(h, "pool"),
        cohort_client_member_text(h, "uri"),
    };
    cohort_table_add_row_take(table, cells);
}

static const gchar *const cohort_ctl_host_headers[] = {
    "NAME",
    "STATE",
    "MACHINES",
    "VCPUS USED/ALLOWED",
    "MEMORY MIB USED/ALLOWED",
    "DISK MIB USED/ALLOWED",
    "ACCEL",
    "POOL",
    "URI",
    NULL,
};

gboolean
cohort_ctl_host_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(cohort_ctl_host_headers);
    JsonArray *hosts;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, NULL,
                          "List hypervisor hosts (admin): state, and for vCPUs, memory and the "
                          "disk overlays may grow to, what is placed beside what placement "
                          "allows (capacity x overcommit ratio).",
                          "  cohortctl host list\n", 0, 0, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "GET", "/api/v1/hosts", NULL, error);
    if (answer == NULL || (hosts = cohort_ctl_expect_array(answer, "host list", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    for (guint i = 0; i < json_array_get_length(hosts); i++) {
        JsonObject *h = cohort_ctl_array_object(hosts, i);
        if (ctl->quiet) {
            g_autofree gchar *name = cohort_client_member_text(h, "name");
            printf("%s\n", name);
        }
        cohort_ctl_host_row(table, h);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

static gboolean
cohort_ctl_print_host(CohortCtl *ctl, JsonNode *answer, GError **error)
{
    JsonObject *h = cohort_ctl_expect_object(answer, "host", error);
    g_autoptr(CohortTable) table = cohort_table_new(cohort_ctl_host_headers);

    if (h == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else if (ctl->quiet) {
        g_autofree gchar *name = cohort_client_member_text(h, "name");
        printf("%s\n", name);
    } else {
        const gchar *state = json_object_get_string_member_with_default(h, "state", "");
        cohort_ctl_host_row(table, h);
        cohort_ctl_print_table(table);
        if (g_strcmp0(state, "connecting") == 0)
            printf("(cohortd connects to it in the background: 'cohortctl host list' shows "
                   "when it is up)\n");
    }
    return TRUE;
}

/* --vcpus, --memory-mib and the ratios of host add and host set into @b. */
static gboolean
cohort_ctl_host_capacity(JsonObject *b, const gchar *vcpus, const gchar *memory,
                         const gchar *cpu_ratio, const gchar *memory_ratio, const gchar *disk_ratio,
                         const gchar *accel, GError **error)
{
    guint64 n;
    gdouble r;

    if (accel != NULL) {
        if (g_strcmp0(accel, "auto") != 0 && g_strcmp0(accel, "kvm") != 0 &&
            g_strcmp0(accel, "tcg") != 0)
            return cohort_ctl_usage_error(error, "--accel must be auto (kvm where the host "
                                                 "offers it, else tcg), kvm or tcg");
        json_object_set_string_member(b, "accel", accel);
    }

    if (vcpus != NULL) {
        if (g_strcmp0(vcpus, "0") == 0)
            n = 0;
        else if (!cohort_client_parse_count(vcpus, "--vcpus", 65536, &n, error))
            return FALSE;
        json_object_set_int_member(b, "vcpus", (gint64)n);
    }
    if (memory != NULL) {
        if (g_strcmp0(memory, "0") == 0)
            n = 0;
        else if (!cohort_client_parse_count(memory, "--memory-mib", G_MAXINT64, &n, error))
            return FALSE;
        json_object_set_int_member(b, "memory_mib", (gint64)n);
    }
    if (cpu_ratio != NULL) {
        if (!cohort_client_parse_ratio(cpu_ratio, "--cpu-ratio", 64, &r, error))
            return FALSE;
        json_object_set_double_member(b, "cpu_ratio", r);
    }
    if (memory_ratio != NULL) {
        if (!cohort_client_parse_ratio(memory_ratio, "--memory-ratio", 16, &r, error))
            return FALSE;
        json_object_set_double_member(b, "memory_ratio", r);
    }
    if (disk_ratio != NULL) {
        if (!cohort_client_parse_ratio(disk_ratio, "--disk-ratio", 100, &r, error))
            return FALSE;
        json_object_set_double_member(b, "disk_ratio", r);
    }
    return TRUE;
}

gboolean
cohort_ctl_host_add(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *uri = NULL;
    g_autofree gchar *pool = NULL;
    g_autofree gchar *vcpus = NULL;
    g_autofree gchar *memory = NULL;
    g_autofree gchar *cpu_ratio = NULL;
    g_autofree gchar *memory_ratio = NULL;
    g_autofree gchar *disk_ratio = NULL;
    g_autofree gchar *accel = NULL;
    const GOptionEntry entries[] = {
        {"uri", 0, 0, G_OPTION_ARG_FILENAME, &uri, "libvirt URI of the host", "URI"},
        {"pool", 0, 0, G_OPTION_ARG_FILENAME, &pool, "Storage pool for the machines' disks",
         "POOL"},
        {"vcpus", 0, 0, G_OPTION_ARG_STRING, &vcpus, "vCPUs Cohort may hand out", "N"},
        {"memory-mib", 0, 0, G_OPTION_ARG_STRING, &memory, "Memory Cohort may hand out, MiB", "N"},
        {"cpu-ratio", 0, 0, G_OPTION_ARG_STRING, &cpu_ratio,
         "vCPU overcommit: vCPUs allowed = vcpus x R (default 4)", "R"},
        {"memory-ratio", 0, 0, G_OPTION_ARG_STRING, &memory_ratio, "Memory overcommit (default 1)",
         "R"},
        {"disk-ratio", 0, 0, G_OPTION_ARG_STRING, &disk_ratio,
         "Disk overcommit: overlays' planned growth allowed = what the pool can give x R "
         "(default 1)",
         "R"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator: auto (kvm where the host offers it, else tcg; the default), kvm or tcg",
         "A"},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    JsonObject *b = json_object_new();

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(ctl, &argc, &argv, entries,
                          "NAME --uri URI [--pool P] [--vcpus N] [--memory-mib N] "
                          "[--cpu-ratio R] [--memory-ratio R] [--disk-ratio R] [--accel A]",
                          "Register a libvirt host (admin). Without --vcpus and --memory-mib "
                          "cohortd uses what libvirt reports. cohortd connects to it in the "
                          "background: the answer says \"connecting\".",
                          "  cohortctl host add lab1 --uri qemu+ssh://lab1/system --pool default\n"
                          "  cohortctl host add lab2 --uri qemu+tls://lab2/system --vcpus 64 "
                          "--memory-mib 262144 --cpu-ratio 2\n",
                          1, 1, error))
        return FALSE;
    if (uri == NULL)
        return cohort_ctl_usage_error(error, "host add needs --uri URI");
    json_object_set_string_member(b, "name", argv[1]);
    json_object_set_string_member(b, "uri", uri);
    if (pool != NULL)
        json_object_set_string_member(b, "pool", pool);
    if (!cohort_ctl_host_capacity(b, vcpus, memory, cpu_ratio, memory_ratio, disk_ratio, accel,
                                  error))
        return FALSE;
    if (!cohort_ctl_check_utf8(uri, "--uri", error) ||
        !cohort_ctl_check_utf8(pool, "--pool", error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "POST", "/api/v1/hosts", body, error);
    return answer != NULL && cohort_ctl_print_host(ctl, answer, error);
}

gboolean
cohort_ctl_host_drain(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean undrain = g_str_has_suffix(argv[0], "undrain");
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *path = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "NAME",
                          undrain ? "Take a drained host back (admin): new machines may go there "
                                    "again."
                                  : "Drain a host (admin): its machines keep running, new ones "
                                    "go elsewhere ('host evacuate' moves them too).",
                          undrain ? "  cohortctl host undrain lab1\n"
                                  : "  cohortctl host drain lab1\n",
                          1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    name = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/hosts/%s/%s", name, undrain ? "undrain" : "drain");
    answer = cohort_client_call(client, "POST", path, NULL, error);
    return answer != NULL && cohort_ctl_print_host(ctl, answer, error);
}

gboolean
cohort_ctl_host_set(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *pool = NULL;
    g_autofree gchar *vcpus = NULL;
    g_autofree gchar *memory = NULL;
    g_autofree gchar *cpu_ratio = NULL;
    g_autofree gchar *memory_ratio = NULL;
    g_autofree gchar *disk_ratio = NULL;
    g_autofree gchar *accel = NULL;
    const GOptionEntry entries[] = {
        {"vcpus", 0, 0, G_OPTION_ARG_STRING, &vcpus, "vCPUs Cohort may hand out (0: libvirt's)",
         "N"},
        {"memory-mib", 0, 0, G_OPTION_ARG_STRING, &memory,
         "Memory Cohort may hand out, MiB (0: libvirt's)", "N"},
        {"cpu-ratio", 0, 0, G_OPTION_ARG_STRING, &cpu_ratio,
         "vCPU overcommit: vCPUs allowed = vcpus x R", "R"},
        {"memory-ratio", 0, 0, G_OPTION_ARG_STRING, &memory_ratio, "Memory overcommit", "R"},
        {"disk-ratio", 0, 0, G_OPTION_ARG_STRING, &disk_ratio,
         "Disk overcommit: overlays' planned growth allowed = what the pool can give x R", "R"},
        {"pool", 0, 0, G_OPTION_ARG_FILENAME, &pool,
         "Another storage pool (only while no machine lives on the host)", "POOL"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel,
         "Accelerator of machines made from now on: auto, kvm or tcg", "A"},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *path = NULL;
    JsonObject *b = json_object_new();

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(ctl, &argc, &argv, entries,
                          "NAME [--vcpus N] [--memory-mib N] [--cpu-ratio R] [--memory-ratio R] "
                          "[--disk-ratio R] [--pool P] [--accel A]",
                          "Change a host's capacity, overcommit ratios, pool or accelerator "
                          "(admin); placement uses the new values at once. Hosts of cohortd.conf "
                          "are changed there.",
                          "  cohortctl host set lab1 --cpu-ratio 2\n"
                          "  cohortctl host set lab2 --memory-mib 131072 --disk-ratio 4\n",
                          1, 1, error))
        return FALSE;
    if (!cohort_ctl_host_capacity(b, vcpus, memory, cpu_ratio, memory_ratio, disk_ratio, accel,
                                  error) ||
        !cohort_ctl_check_utf8(pool, "--pool", error))
        return FALSE;
    if (pool != NULL)
        json_object_set_string_member(b, "pool", pool);
    if (json_object_get_size(b) == 0)
        return cohort_ctl_usage_error(error, "host set needs something to change (--vcpus, "
                                             "--memory-mib, --cpu-ratio, --memory-ratio, "
                                             "--disk-ratio, --pool or --accel)");
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    name = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/hosts/%s", name);
    answer = cohort_client_call(client, "PATCH", path, body, error);
    return answer != NULL && cohort_ctl_print_host(ctl, answer, error);
}

/* A job's answer: followed unless --no-wait, which prints its id. */
static gboolean
cohort_ctl_infra_job(CohortCtl *ctl, JsonNode *answer, const gchar *label, gboolean no_wait,
                     GError **error)
{
    JsonObject *r = cohort_ctl_expect_object(answer, label, error);
    gint64 id;

    if (r == NULL)
        return FALSE;
    id = json_object_get_int_member_with_default(r, "job", 0);
    if (id <= 0) {
        g_set_error(error, COHORT_CLIENT_ERROR, COHORT_CLIENT_ERROR_PROTOCOL,
                    "cohortd's answer to %s holds no job id", label);
        return FALSE;
    }
    if (no_wait) {
        if (ctl->json)
            cohort_ctl_print_json(answer);
        else if (ctl->quiet)
            printf("%" G_GINT64_FORMAT "\n", id);
        else
            printf("Job %" G_GINT64_FORMAT
                   " started; follow it with: cohortctl job show %" G_GINT64_FORMAT " --wait\n",
                   id, id);
        return TRUE;
    }
    return cohort_ctl_job_follow(ctl, id, label, error);
}

gboolean
cohort_ctl_host_evacuate(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean no_wait = FALSE;
    const GOptionEntry entries[] = {
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "NAME [--no-wait]",
                          "Empty a host (admin): it drains, its stopped machines move with their "
                          "disks (copied through libvirt), the others are made anew on other "
                          "hosts (what their disks held is lost). A job with progress.",
                          "  cohortctl host evacuate lab1\n", 1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    name = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/hosts/%s/evacuate", name);
    answer = cohort_client_call(client, "POST", path, NULL, error);
    if (answer == NULL)
        return FALSE;
    label = g_strdup_printf("evacuate %s", argv[1]);
    return cohort_ctl_infra_job(ctl, answer, label, no_wait, error);
}

gboolean
cohort_ctl_host_remove_base(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean no_wait = FALSE;
    const GOptionEntry entries[] = {
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *host = NULL;
    g_autofree gchar *tmpl = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "HOST TEMPLATE [--no-wait]",
                          "Remove a template's base volume from a host (admin); refused while "
                          "machines there use it. The host is not given it again by itself.",
                          "  cohortctl host remove-base lab1 small-linux\n", 2, 2, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    host = cohort_client_escape(argv[1]);
    tmpl = cohort_client_escape(argv[2]);
    path = g_strdup_printf("/api/v1/hosts/%s/bases/%s", host, tmpl);
    answer = cohort_client_call(client, "DELETE", path, NULL, error);
    if (answer == NULL)
        return FALSE;
    label = g_strdup_printf("remove base of %s from %s", argv[2], argv[1]);
    return cohort_ctl_infra_job(ctl, answer, label, no_wait, error);
}

gboolean
cohort_ctl_host_remove(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *reclaimed = NULL;
    JsonObject *obj;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "NAME",
                          "Remove a host (admin) once no machine lives there: drain it, reclaim "
                          "or release its machines, then remove it. Reclaimed machines keep "
                          "their history, without a host.",
                          "  cohortctl host drain lab1\n"
                          "  cohortctl host remove lab1\n",
                          1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    name = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/hosts/%s", name);
    answer = cohort_client_call(client, "DELETE", path, NULL, error);
    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "host removal", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
    } else if (ctl->quiet) {
        printf("%s\n", argv[1]);
    } else {
        reclaimed = cohort_client_member_text(obj, "reclaimed_machines");
        printf("host %s removed; %s reclaimed machines keep their history without a host\n",
               argv[1], reclaimed);
    }
    return TRUE;
}

gboolean
cohort_ctl_template_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {
        "NAME", "VCPUS", "MEMORY MIB", "DISK MIB", "BASE VOLUME", "DESCRIPTION", NULL,
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonArray *templates;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, NULL,
                          "List the templates machines are made from.",
                          "  cohortctl template list\n", 0, 0, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "GET", "/api/v1/templates", NULL, error);
    if (answer == NULL ||
        (templates = cohort_ctl_expect_array(answer, "template list", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    for (guint i = 0; i < json_array_get_length(templates); i++) {
        JsonObject *t = cohort_ctl_array_object(templates, i);
        gchar *cells[] = {
            cohort_client_member_text(t, "name"),
            cohort_client_member_text(t, "vcpus"),
            cohort_client_member_text(t, "memory_mib"),
            cohort_client_member_text(t, "disk_mib"),
            cohort_client_member_text(t, "base_volume"),
            cohort_client_member_text(t, "description"),
        };
        if (ctl->quiet)
            printf("%s\n", cells[0]);
        cohort_table_add_row_take(table, cells);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

gboolean
cohort_ctl_template_show(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const members[] = {
        "name", "description", "vcpus", "memory_mib", "disk_mib", "base_volume", NULL,
    };
    static const gchar *const labels[] = {
        "Name", "Description", "vCPUs", "Memory (MiB)", "Disk (MiB)", "Base volume", NULL,
    };
    static const gchar *const headers[] = {"HOST", "HAS BASE", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonObject *t;
    JsonNode *hosts;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "NAME",
                          "Show a template and, for each host, whether its base volume is there.",
                          "  cohortctl template show small-linux\n", 1, 1, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    name = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/templates/%s", name);
    answer = cohort_client_call(client, "GET", path, NULL, error);
    if (answer == NULL || (t = cohort_ctl_expect_object(answer, "template", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    if (ctl->quiet) {
        g_autofree gchar *n = cohort_client_member_text(t, "name");
        printf("%s\n", n);
        return TRUE;
    }
    cohort_ctl_print_fields(t, members, labels);
    hosts = json_object_get_member(t, "hosts");
    if (hosts != NULL && JSON_NODE_HOLDS_ARRAY(hosts)) {
        JsonArray *a = json_node_get_array(hosts);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *h = cohort_ctl_array_object(a, i);
            gchar *cells[] = {
                cohort_client_member_text(h, "host"),
                cohort_client_member_text(h, "has_base"),
            };
            cohort_table_add_row_take(table, cells);
        }
        printf("\n");
        cohort_ctl_print_table(table);
    }
    return TRUE;
}

gboolean
cohort_ctl_template_reload(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {"NAME", "STATE", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonNode) error_body = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonObject *r;
    JsonNode *list;

    if (!cohort_ctl_parse(ctl, &argc, &argv, NULL, "",
                          "Make cohortd read its templates directory again (admin), after "
                          "template files were added, changed or removed on the server. All or "
                          "nothing: when a file does not load, each such file is printed as "
                          "FILE: message, nothing changes and the exit status is 7. Check a file "
                          "first with 'cohortd --check-template FILE'.",
                          "  cohortctl template reload\n", 0, 0, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call_full(client, "POST", "/api/v1/templates/reload", NULL, NULL, NULL,
                                     &error_body, error);
    if (answer == NULL) {
        /* each file that did not load, then cohortd's summary */
        JsonArray *files = cohort_ctl_error_details(error_body, "files");
        for (guint i = 0; files != NULL && i < json_array_get_length(files); i++) {
            JsonObject *f = cohort_ctl_array_object(files, i);
            g_autofree gchar *file = cohort_client_member_text(f, "file");
            g_autofree gchar *message = cohort_client_member_text(f, "message");
            fprintf(stderr, "%s: %s\n", file, message);
        }
        return FALSE;
    }
    if ((r = cohort_ctl_expect_object(answer, "template reload", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    list = json_object_get_member(r, "templates");
    if (list != NULL && JSON_NODE_HOLDS_ARRAY(list)) {
        JsonArray *a = json_node_get_array(list);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *t = cohort_ctl_array_object(a, i);
            gchar *cells[] = {
                cohort_client_member_text(t, "name"),
                cohort_client_member_text(t, "state"),
            };
            if (ctl->quiet)
                printf("%s %s\n", cells[0], cells[1]);
            cohort_table_add_row_take(table, cells);
        }
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

gboolean
cohort_ctl_template_base(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    gboolean blank = FALSE;
    gboolean no_wait = FALSE;
    g_autofree gchar *file = NULL;
    const GOptionEntry entries[] = {
        {"blank", 0, 0, G_OPTION_ARG_NONE, &blank, "An empty base of the template's disk size",
         NULL},
        {"path", 0, 0, G_OPTION_ARG_FILENAME, &file,
         "An image file on cohortd's machine (not this one)", "FILE"},
        {"no-wait", 0, 0, G_OPTION_ARG_NONE, &no_wait,
         "Print the job id and return; follow it later with 'job show ID --wait'", NULL},
        {NULL},
    };
    static const gchar *const headers[] = {"HOST", "VOLUME", "STATE", NULL};
    CohortClient *client;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *name = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *label = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonObject *b = json_object_new();
    JsonObject *r;
    JsonNode *hosts;

    json_node_take_object(body, b);
    if (!cohort_ctl_parse(
            ctl, &argc, &argv, entries, "NAME (--blank | --path FILE) [--no-wait]",
            "Install a template's base volume in the pool of every host that is up and lacks it "
            "(admin), as a job: the image is checked once, then sent to each host through "
            "libvirt with progress, and what arrived is checked. FILE is read by cohortd on its "
            "own machine, under its images directory ([daemon] images_dir, "
            "/var/lib/cohort/images by default). Hosts that are down, or added later, get it "
            "when they connect if a cohort uses the template.",
            "  cohortctl template base small-linux --path /var/lib/cohort/images/debian-12.qcow2\n"
            "  cohortctl template base tiny --blank\n",
            1, 1, error))
        return FALSE;
    if (blank == (file != NULL))
        return cohort_ctl_usage_error(error, "template base needs either --blank or --path FILE");
    if (blank)
        json_object_set_boolean_member(b, "blank", TRUE);
    else if (!cohort_ctl_check_utf8(file, "--path", error))
        return FALSE;
    else
        json_object_set_string_member(b, "path", file);
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    name = cohort_client_escape(argv[1]);
    path = g_strdup_printf("/api/v1/templates/%s/base", name);
    answer = cohort_client_call(client, "POST", path, body, error);
    if (answer == NULL || (r = cohort_ctl_expect_object(answer, "template base", error)) == NULL)
        return FALSE;
    hosts = json_object_get_member(r, "hosts");
    if (!ctl->json && !ctl->quiet && hosts != NULL && JSON_NODE_HOLDS_ARRAY(hosts)) {
        JsonArray *a = json_node_get_array(hosts);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *h = cohort_ctl_array_object(a, i);
            gchar *cells[] = {
                cohort_client_member_text(h, "host"),
                cohort_client_member_text(h, "volume"),
                cohort_client_member_text(h, "state"),
            };
            cohort_table_add_row_take(table, cells);
        }
        cohort_ctl_print_table(table);
    }
    label = g_strdup_printf("base %s", argv[1]);
    return cohort_ctl_infra_job(ctl, answer, label, no_wait, error);
}

gboolean
cohort_ctl_audit_list(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    g_autofree gchar *limit = NULL;
    const GOptionEntry entries[] = {
        {"limit", 'n', 0, G_OPTION_ARG_STRING, &limit, "At most N entries (default: cohortd's)",
         "N"},
        {NULL},
    };
    static const gchar *const headers[] = {
        "ID", "AT", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAIL", NULL,
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonArray *entries_a;
    guint64 n = 0;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "[--limit N]",
                          "Show the audit log (admin), newest first: who did what to what.",
                          "  cohortctl audit list --limit 20\n", 0, 0, error))
        return FALSE;
    if (limit != NULL && !cohort_client_parse_count(limit, "--limit", 10000, &n, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    path = n > 0 ? g_strdup_printf("/api/v1/audit?limit=%" G_GUINT64_FORMAT, n)
                 : g_strdup("/api/v1/audit");
    answer = cohort_client_call(client, "GET", path, NULL, error);
    if (answer == NULL || (entries_a = cohort_ctl_expect_array(answer, "audit", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    for (guint i = 0; i < json_array_get_length(entries_a); i++) {
        JsonObject *e = cohort_ctl_array_object(entries_a, i);
        gchar *cells[] = {
            cohort_client_member_text(e, "id"),     cohort_client_member_text(e, "at"),
            cohort_client_member_text(e, "actor"),  cohort_client_member_text(e, "action"),
            cohort_client_member_text(e, "target"), cohort_client_member_text(e, "result"),
            cohort_client_member_text(e, "detail"),
        };
        if (ctl->quiet)
            printf("%s\n", cells[0]);
        cohort_table_add_row_take(table, cells);
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}

gboolean
cohort_ctl_usage(CohortCtl *ctl, gint argc, gchar **argv, GError **error)
{
    static const gchar *const headers[] = {
        "COHORT", "TRAINEE", "MACHINES", "VCPUS", "MEMORY MIB", "MACHINE-HOURS", NULL,
    };
    gboolean per_trainee = FALSE;
    const GOptionEntry entries[] = {
        {"trainees", 't', 0, G_OPTION_ARG_NONE, &per_trainee, "One line per trainee too", NULL},
        {NULL},
    };
    CohortClient *client;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(CohortTable) table = cohort_table_new(headers);
    JsonObject *obj;
    JsonArray *cohorts;

    if (!cohort_ctl_parse(ctl, &argc, &argv, entries, "[--trainees]",
                          "What the courses hold now and the machine-hours they ran (admin).",
                          "  cohortctl usage\n  cohortctl usage --trainees\n", 0, 0, error))
        return FALSE;
    if ((client = cohort_ctl_client(ctl, TRUE, error)) == NULL)
        return FALSE;
    answer = cohort_client_call(client, "GET", "/api/v1/usage", NULL, error);
    if (answer == NULL || (obj = cohort_ctl_expect_object(answer, "usage", error)) == NULL)
        return FALSE;
    if (ctl->json) {
        cohort_ctl_print_json(answer);
        return TRUE;
    }
    cohorts = json_object_get_array_member(obj, "cohorts");
    for (guint i = 0; cohorts != NULL && i < json_array_get_length(cohorts); i++) {
        JsonObject *c = cohort_ctl_array_object(cohorts, i);
        JsonArray *trainees = json_object_get_array_member(c, "trainees");
        gchar *cells[] = {
            cohort_client_member_text(c, "cohort"),
            g_strdup("(all)"),
            cohort_client_member_text(c, "machines"),
            cohort_client_member_text(c, "vcpus"),
            cohort_client_member_text(c, "memory_mib"),
            g_strdup_printf("%.1f", json_object_get_double_member(c, "machine_hours")),
        };
        if (ctl->quiet) {
            printf("%s\n", cells[0]);
            for (guint k = 0; k < G_N_ELEMENTS(cells); k++)
                g_free(cells[k]);
            continue;
        }
        cohort_table_add_row_take(table, cells);
        for (guint t = 0; per_trainee && trainees != NULL && t < json_array_get_length(trainees);
             t++) {
            JsonObject *u = cohort_ctl_array_object(trainees, t);
            gchar *row[] = {
                cohort_client_member_text(c, "cohort"),
                cohort_client_member_text(u, "login"),
                cohort_client_member_text(u, "machines"),
                cohort_client_member_text(u, "vcpus"),
                cohort_client_member_text(u, "memory_mib"),
                g_strdup_printf("%.1f", json_object_get_double_member(u, "machine_hours")),
            };
            cohort_table_add_row_take(table, row);
        }
    }
    if (!ctl->quiet)
        cohort_ctl_print_table(table);
    return TRUE;
}
