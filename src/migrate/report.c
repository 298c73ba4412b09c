/* report.c -- the migration's JSON keys (the pre-import report). */
#include "compat.h"
#include "migrate.h"

#include "jsonw.h"

void
gsr_migrate_write_json(const struct gsr_migrate *res, struct jsonw *jw)
{
	jw_key(jw, "target");
	jw_obj_begin(jw);
	jw_kstr(jw, "connection", res->target_display);
	jw_kstr(jw, "server_version", res->server_version);
	jw_kstr(jw, "schema", res->schema);
	jw_kstr(jw, "alembic_version", res->alembic);
	jw_kstr(jw, "column_types_from", res->types_from);
	jw_kbool(jw, "loaded", res->loaded);
	jw_obj_end(jw);
	jw_key(jw, "effects_2x");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_effects; i++) {
		const struct gsr_migrate_effect_res *er = &res->effects[i];
		const struct gsr_migrate_effect *e = er->effect;
		jw_obj_begin(jw);
		jw_kstr(jw, "name", e->name);
		jw_kstr(jw, "version", e->version);
		jw_kstr(jw, "revision", e->revision);
		jw_kstr(jw, "severity", e->severity);
		jw_kstr(jw, "table", e->table);
		jw_kint(jw, "rows", er->rows);
		jw_kbool(jw, "applies", er->rows > 0);
		jw_kstrvec(jw, "examples", &er->examples);
		jw_kstr(jw, "message", e->message);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_key(jw, "load");
	jw_obj_begin(jw);
	jw_key(jw, "tables");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_migrate_table *t = &res->tables[i];
		jw_obj_begin(jw);
		jw_kstr(jw, "name", t->name);
		jw_kint(jw, "rebuilt_rows", t->rebuilt);
		jw_kint(jw, "imported", t->imported);
		jw_kint(jw, "quarantined", t->quarantined);
		jw_kstr(jw, "sequence", t->sequence);
		if (t->sequence)
			jw_kint(jw, "next_id", t->next_id);
		else
			jw_knull(jw, "next_id");
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_kint(jw, "rebuilt_rows", res->total_rebuilt);
	jw_kint(jw, "imported", res->total_imported);
	jw_kint(jw, "quarantined", res->total_quarantined);
	jw_key(jw, "quarantine");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_qrows; i++) {
		const struct gsr_migrate_qrow *q = &res->qrows[i];
		jw_obj_begin(jw);
		jw_kstr(jw, "table", q->table);
		jw_kint(jw, "rowid", q->rowid);
		jw_kstr(jw, "reason", q->reason);
		jw_key(jw, "values");
		jw_raw(jw, q->values);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_obj_end(jw);
	jw_key(jw, "timing_ms");
	jw_obj_begin(jw);
	jw_key(jw, "rebuild");
	jw_real(jw, res->ms_rebuild);
	jw_key(jw, "check");
	jw_real(jw, res->ms_check);
	jw_key(jw, "load");
	jw_real(jw, res->ms_load);
	jw_obj_end(jw);
}
