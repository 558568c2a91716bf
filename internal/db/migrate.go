package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authd/authd/sql/schema"
)

// MigrateUp applies every pending migration. Several processes may call it at
// once: golang-migrate holds a PostgreSQL advisory lock, so one migrates and
// the others wait and then find nothing to do.
//
// A database the tutorial created is adopted on the way (see adopt.go).
func MigrateUp(ctx context.Context, url string) error {
	if err := adoptPrepare(ctx, url); err != nil {
		return err
	}
	err := withMigrator(ctx, url, func(m *migrate.Migrate) error {
		// A database already migrated by a newer release is left alone, so
		// an older replica can still start during a rolling upgrade.
		if v, dirty, err := m.Version(); err == nil && !dirty && v > schema.Version {
			return nil
		}
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrate up: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return adoptImport(ctx, url)
}

// MigrateDown reverts the newest steps migrations.
func MigrateDown(ctx context.Context, url string, steps int) error {
	if steps < 1 {
		return fmt.Errorf("migrate down: steps must be at least 1")
	}
	return withMigrator(ctx, url, func(m *migrate.Migrate) error {
		if err := m.Steps(-steps); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrate down: %w", err)
		}
		return nil
	})
}

// MigrateForce records version as applied and clears the dirty flag,
// without running anything: for recovering by hand from a failed migration.
func MigrateForce(ctx context.Context, url string, version int) error {
	return withMigrator(ctx, url, func(m *migrate.Migrate) error {
		if err := m.Force(version); err != nil {
			return fmt.Errorf("migrate force: %w", err)
		}
		return nil
	})
}

// MigrationVersion reports the applied version (0 when none) and whether a
// failed migration left the schema dirty.
func MigrationVersion(ctx context.Context, url string) (version uint, dirty bool, err error) {
	err = withMigrator(ctx, url, func(m *migrate.Migrate) error {
		v, d, err := m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("migration version: %w", err)
		}
		version, dirty = v, d
		return nil
	})
	return version, dirty, err
}

func withMigrator(ctx context.Context, url string, fn func(*migrate.Migrate) error) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", Classify(err))
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("connect for migration: %w", Classify(err))
	}
	driver, err := migratepgx.WithInstance(sqlDB, &migratepgx.Config{})
	if err != nil {
		return fmt.Errorf("migration driver: %w", Classify(err))
	}
	src, err := iofs.New(schema.FS, ".")
	if err != nil {
		return fmt.Errorf("migration source: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return fmt.Errorf("migrator: %w", err)
	}
	// Close returns the driver's connection; without it the pool never drains.
	defer m.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-stop:
		}
	}()
	return fn(m)
}

// SchemaVersion reads the applied migration version through an open pool,
// for the readiness check.
func SchemaVersion(ctx context.Context, q DBTX) (version int64, dirty bool, err error) {
	err = q.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&version, &dirty)
	if err != nil {
		return 0, false, fmt.Errorf("schema version: %w", Classify(err))
	}
	return version, dirty, nil
}
