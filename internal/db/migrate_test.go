package db_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/sql/schema"
)

func TestMigrateUpDownForce(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyURL(t)
	ctx := t.Context()
	if err := db.MigrateUp(ctx, url); err != nil {
		t.Fatal(err)
	}
	v, dirty, err := db.MigrationVersion(ctx, url)
	if err != nil || dirty || v != schema.Version {
		t.Fatalf("after up: version %d dirty %v err %v, want %d", v, dirty, err, schema.Version)
	}
	if err := db.MigrateUp(ctx, url); err != nil {
		t.Errorf("second up: %v", err)
	}
	if err := db.MigrateDown(ctx, url, schema.Version); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := db.MigrationVersion(ctx, url); v != 0 {
		t.Errorf("after down: version %d, want 0", v)
	}
	if err := db.MigrateUp(ctx, url); err != nil {
		t.Fatalf("up again: %v", err)
	}

	// A newer release's schema: an older binary starts without touching it.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE schema_migrations SET version = 999"); err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateUp(ctx, url); err != nil {
		t.Errorf("up with a newer schema: %v", err)
	}
	// A failed migration leaves the schema dirty; force clears it.
	if _, err := conn.Exec(ctx, "UPDATE schema_migrations SET version = $1, dirty = true", schema.Version); err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateUp(ctx, url); err == nil {
		t.Error("up on a dirty schema succeeded")
	}
	if err := db.MigrateForce(ctx, url, schema.Version); err != nil {
		t.Fatal(err)
	}
	if v, dirty, err := db.MigrationVersion(ctx, url); err != nil || dirty || v != schema.Version {
		t.Errorf("after force: %d %v %v", v, dirty, err)
	}
}
