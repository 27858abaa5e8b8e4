package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

func TestMigrateEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, pgtest.URL(t, "store_migrate"))

	st, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != 0 || st.Latest < 1 || len(st.Migrations) != int(st.Latest) {
		t.Fatalf("empty database: status %+v", st)
	}
	if m := st.Migrations[0]; m.Version != 1 || m.Name != "001_call_records.sql" || m.Applied {
		t.Errorf("first migration %+v, want 1 001_call_records.sql not applied", m)
	}
	if n := count(t, db, "SELECT count(*) FROM pg_class WHERE relname = 'callmon_schema_version'"); n != 0 {
		t.Error("Status created the version table")
	}
	err = db.CheckSchema(ctx)
	if !errors.Is(err, store.ErrSchemaBehind) || errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("CheckSchema on an empty database: %v, want ErrSchemaBehind", err)
	}
	if want := fmt.Sprintf("database schema version 0 is behind this callmon (%d): run callmon migrate", st.Latest); err.Error() != want {
		t.Errorf("CheckSchema: %q, want %q", err, want)
	}

	for range 2 { // idempotent
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := db.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Current != st.Latest {
			t.Errorf("after Migrate: version %d, want %d", st.Current, st.Latest)
		}
		for _, m := range st.Migrations {
			if !m.Applied {
				t.Errorf("after Migrate: %s not applied", m.Name)
			}
		}
		if err := db.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema after Migrate: %v", err)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM callmon_schema_version"); n != 1 {
		t.Errorf("%d version rows, want 1", n)
	}
	// The table and its indexes exist.
	if n := count(t, db, `SELECT count(*) FROM pg_indexes WHERE tablename = 'call_records'
		AND indexname IN ('call_records_queue_entry_at', 'call_records_entry_at')`); n != 2 {
		t.Errorf("%d of the 2 call_records indexes", n)
	}
}

func TestSchemaNewerThanBinary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	st, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A newer callmon migrated this database.
	if _, err := db.Pool().Exec(ctx, "INSERT INTO callmon_schema_version (version) VALUES ($1)", st.Latest+1); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("database schema version %d is newer than this callmon (%d); upgrade callmon", st.Latest+1, st.Latest)
	err = db.CheckSchema(ctx)
	if !errors.Is(err, store.ErrSchemaNewer) || err.Error() != want {
		t.Errorf("CheckSchema: %v, want ErrSchemaNewer %q", err, want)
	}
	err = db.Migrate(ctx)
	if !errors.Is(err, store.ErrSchemaNewer) || err.Error() != want {
		t.Errorf("Migrate: %v, want ErrSchemaNewer %q", err, want)
	}
	var sv *store.SchemaVersionError
	if !errors.As(err, &sv) || sv.Current != st.Latest+1 || sv.Latest != st.Latest {
		t.Errorf("Migrate: %#v", err)
	}
}
