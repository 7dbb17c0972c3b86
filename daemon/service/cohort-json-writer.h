/* Compact JSON text written as it goes, for answers too hot or too large for a json-glib tree
 * (a trainee's machine list: each object built, generated and freed cost ~40 k instructions).
 * The bytes are those json-glib's generator writes for the same values, except 0x1f, which
 * json-glib 1.6 leaves raw (not JSON) and this writer escapes. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CohortJsonWriter CohortJsonWriter;

CohortJsonWriter *cohort_json_writer_new(void);
void cohort_json_writer_free(CohortJsonWriter *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CohortJsonWriter, cohort_json_writer_free)

void cohort_json_writer_begin_object(CohortJsonWriter *self);
void cohort_json_writer_end_object(CohortJsonWriter *self);
void cohort_json_writer_begin_array(CohortJsonWriter *self);
void cohort_json_writer_end_array(CohortJsonWriter *self);
/* The next value is this member's (inside an object only). */
void cohort_json_writer_member(CohortJsonWriter *self, const gchar *name);
/* NULL writes null. */
void cohort_json_writer_string(CohortJsonWriter *self, const gchar *value);
void cohort_json_writer_int(CohortJsonWriter *self, gint64 value);
void cohort_json_writer_boolean(CohortJsonWriter *self, gboolean value);
void cohort_json_writer_null(CohortJsonWriter *self);
/* The text so far, made valid UTF-8 as cohort_json_to_string() makes it; frees @self. Every
 * object and array must be closed. */
gchar *cohort_json_writer_free_to_text(CohortJsonWriter *self);

G_END_DECLS
