package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// versionTable records the schema version, as tern's migrate keeps it. It is
// not schema-qualified so that it lives beside the tables, on the search_path.
const versionTable = "callmon_schema_version"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaNewer and ErrSchemaBehind are returned (wrapped in a
// *SchemaVersionError) when the database's schema does not match this binary.
var (
	ErrSchemaNewer  = errors.New("database schema is newer than this callmon")
	ErrSchemaBehind = errors.New("database schema is behind this callmon")
)

// SchemaVersionError says which schema the database has and which this
// callmon expects.
type SchemaVersionError struct {
	Current int32 // version in the database
	Latest  int32 // newest version this binary knows
}

func (e *SchemaVersionError) Error() string {
	if e.Current > e.Latest {
		return fmt.Sprintf("database schema version %d is newer than this callmon (%d); upgrade callmon", e.Current, e.Latest)
	}
	return fmt.Sprintf("database schema version %d is behind this callmon (%d): run callmon migrate", e.Current, e.Latest)
}

func (e *SchemaVersionError) Is(target error) bool {
	return (target == ErrSchemaNewer && e.Current > e.Latest) || (target == ErrSchemaBehind && e.Current < e.Latest)
}

// Status is the schema state of a database.
type Status struct {
	Current    int32 // version applied in the database; 0 when none is
	Latest     int32 // newest version this binary carries
	Migrations []MigrationStatus
}

// MigrationStatus is one migration this binary carries.
type MigrationStatus struct {
	Version int32
	Name    string // file name, e.g. 001_call_records.sql
	Applied bool
}

// migrationNames returns the embedded migrations' file names in version
// order (version = index + 1), checked by tern for gaps and duplicates.
func migrationNames() ([]string, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	names, err := migrate.FindMigrations(sub)
	if err != nil {
		return nil, fmt.Errorf("embedded migrations: %w", err)
	}
	return names, nil
}

// Migrate applies every pending migration, each in its own transaction
// together with its version row. It is idempotent, and refuses to touch a
// schema newer than this binary.
func (db *DB) Migrate(ctx context.Context) error {
	current, err := db.schemaVersion(ctx)
	if err != nil {
		return err
	}
	names, err := migrationNames()
	if err != nil {
		return err
	}
	latest := int32(len(names))
	if current > latest {
		return &SchemaVersionError{Current: current, Latest: latest}
	}
	return db.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		m, err := migrate.NewMigrator(ctx, c.Conn(), versionTable)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		sub, err := fs.Sub(migrationFiles, "migrations")
		if err != nil {
			return err
		}
		if err := m.LoadMigrations(sub); err != nil {
			return fmt.Errorf("embedded migrations: %w", err)
		}
		if err := m.Migrate(ctx); err != nil {
			var bad migrate.BadVersionError
			if errors.As(err, &bad) {
				// Another callmon migrated past us between the check and the lock.
				if v, verr := db.schemaVersion(ctx); verr == nil && v > latest {
					return &SchemaVersionError{Current: v, Latest: latest}
				}
			}
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
}

// Status reports the schema version of the database and which of this
// binary's migrations are applied. It changes nothing.
func (db *DB) Status(ctx context.Context) (Status, error) {
	current, err := db.schemaVersion(ctx)
	if err != nil {
		return Status{}, err
	}
	names, err := migrationNames()
	if err != nil {
		return Status{}, err
	}
	st := Status{Current: current, Latest: int32(len(names))}
	for i, name := range names {
		v := int32(i + 1)
		st.Migrations = append(st.Migrations, MigrationStatus{Version: v, Name: name, Applied: v <= current})
	}
	return st, nil
}

// CheckSchema returns nil when the database has exactly the schema this
// binary expects, and a *SchemaVersionError (ErrSchemaNewer or
// ErrSchemaBehind) otherwise.
func (db *DB) CheckSchema(ctx context.Context) error {
	st, err := db.Status(ctx)
	if err != nil {
		return err
	}
	if st.Current != st.Latest {
		return &SchemaVersionError{Current: st.Current, Latest: st.Latest}
	}
	return nil
}

// schemaVersion reads the version without creating the version table: 0 when
// the database has never been migrated.
func (db *DB) schemaVersion(ctx context.Context) (int32, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int32
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+versionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
