package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authd/authd/sql/schema"
)

// ErrPooled means that url leads through a pooler that hands each transaction
// to whichever server connection is free (PgBouncer's pool_mode=transaction
// or statement), so the client has no session of its own. golang-migrate
// locks with a session-level advisory lock: through such a pooler the lock
// stays behind on a server connection that other clients go on using, and
// the unlock may reach another one. Concurrent migrators then wait for ever,
// or two of them migrate at once. Every migration function refuses such a
// URL with this error, before it takes the lock.
var ErrPooled = errors.New("the connection goes through a transaction pooler (such as PgBouncer with pool_mode=transaction or statement), which cannot hold the migration lock")

// connectTimeout bounds each connection of the migrator whose URL sets no
// connect_timeout: an unreachable host would otherwise keep a caller
// without a deadline waiting for the operating system's TCP timeout.
const connectTimeout = 10 * time.Second

// MigrateUp applies every pending migration. Several processes may call it at
// once: golang-migrate holds a PostgreSQL advisory lock, so one migrates and
// the others wait and then find nothing to do. That lock waits at most 15
// seconds in golang-migrate; a timeout is reported as ErrUnavailable.
//
// A database the tutorial created is refused (ErrAdoptionUnchecked):
// MigrateUpAdopting adopts it.
func MigrateUp(ctx context.Context, url string) error {
	return MigrateUpAdopting(ctx, url, Adoption{})
}

// MigrateUpAdopting is MigrateUp that adopts a database the tutorial
// created on the way, as a says (see adopt.go).
func MigrateUpAdopting(ctx context.Context, url string, a Adoption) error {
	// Refuse a transaction pooler before adoption touches anything.
	if err := sessionCheck(ctx, url); err != nil {
		return err
	}
	if err := adoptPrepare(ctx, url, a); err != nil {
		return err
	}
	err := withMigrator(ctx, url, func(m *migrate.Migrate) error {
		// A database already migrated by a newer release is left alone, so
		// an older replica can still start during a rolling upgrade.
		if v, dirty, err := m.Version(); err == nil && !dirty && v > schema.Version {
			return nil
		}
		return upError(m.Up())
	})
	if err != nil {
		return err
	}
	return adoptImport(ctx, url, a)
}

// upError is MigrateUp's error for what golang-migrate's Up returned.
func upError(err error) error {
	switch {
	case err == nil, errors.Is(err, migrate.ErrNoChange):
		return nil
	case errors.Is(err, migrate.ErrLockTimeout):
		// Another migrator has held the lock for long: worth trying again.
		return fmt.Errorf("migrate up: %w", &classified{kind: ErrUnavailable, err: err})
	}
	return fmt.Errorf("migrate up: %w", err)
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

// migrationConfig parses url for a migrator.
func migrationConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", Classify(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	return cfg, nil
}

// sessionCheck is checkSession for url.
func sessionCheck(ctx context.Context, url string) error {
	cfg, err := migrationConfig(url)
	if err != nil {
		return err
	}
	return checkSession(ctx, cfg)
}

func withMigrator(ctx context.Context, url string, fn func(*migrate.Migrate) error) error {
	cfg, err := migrationConfig(url)
	if err != nil {
		return err
	}
	if err := checkSession(ctx, cfg); err != nil {
		return err
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

// stepTimeout bounds each statement of checkSession.
const stepTimeout = 5 * time.Second

// sessionRounds is how often checkSession asks (see TestSessionCheck in
// cmd/authd for how often one round tells).
const sessionRounds = 10

// checkSession returns ErrPooled unless a connection made with cfg keeps one
// server session, as a direct connection to PostgreSQL or a session-mode
// pool does. What PgBouncer shows a client does not say its pool mode (SHOW
// answers only on its admin console, and its cancel key is random in every
// mode), so this asks what can be seen. Connection A asks for its server
// process id; then, in rounds, connection B opens a transaction and asks
// for its own, A asks again, B rolls back, and A asks once more. A session
// keeps its process throughout, and no other client can be given it.
// Through a transaction pooler B is handed the server connection A has just
// released (PgBouncer reuses the most recent one first, unless
// server_round_robin is set), or A's statements go to other server
// connections (B's, once it is released), or wait for a free one; a
// statement pooler refuses B's transaction. Every statement goes as a
// simple query, so the answer does not depend on the URL's
// default_query_exec_mode. It costs two short connections and about forty
// round trips.
func checkSession(ctx context.Context, cfg *pgx.ConnConfig) error {
	a, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect for migration: %w", Classify(err))
	}
	defer a.Close(context.Background())
	b, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect for migration: %w", Classify(err))
	}
	defer b.Close(context.Background())
	pid, err := backendPID(ctx, a)
	if err != nil {
		return fmt.Errorf("session check: %w", Classify(err))
	}
	for range sessionRounds {
		if err := sessionRound(ctx, a, b, pid); err != nil {
			return err
		}
	}
	return nil
}

// sessionRound is one round of checkSession; pid is A's server process.
func sessionRound(ctx context.Context, a, b *pgx.Conn, pid uint32) error {
	other, beginErr := transactionPID(ctx, b)
	if beginErr == nil && other == pid {
		return fmt.Errorf("a second connection was given the first one's server session: %w", ErrPooled)
	}
	during, err := backendPID(ctx, a)
	if beginErr == nil {
		if err := exec(ctx, b, "ROLLBACK"); err != nil {
			return fmt.Errorf("session check: %w", Classify(err))
		}
	}
	var refused *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("a statement waited for a server connection while another client held one: %w", ErrPooled)
	case err != nil:
		return fmt.Errorf("session check: %w", Classify(err))
	case during != pid:
		return fmt.Errorf("one connection's statements ran in two server sessions: %w", ErrPooled)
	case errors.As(beginErr, &refused):
		// PostgreSQL answered A, but B's BEGIN was refused: a statement
		// pooler ("transaction blocks not allowed").
		return fmt.Errorf("a transaction was refused (%s): %w", refused.Message, ErrPooled)
	case beginErr != nil:
		return fmt.Errorf("session check: %w", Classify(beginErr))
	}
	after, err := backendPID(ctx, a)
	switch {
	case err != nil:
		return fmt.Errorf("session check: %w", Classify(err))
	case after != pid:
		return fmt.Errorf("one connection's statements ran in two server sessions: %w", ErrPooled)
	}
	return nil
}

// transactionPID begins a transaction on c and returns its server's process id.
func transactionPID(ctx context.Context, c *pgx.Conn) (uint32, error) {
	if err := exec(ctx, c, "BEGIN"); err != nil {
		return 0, err
	}
	return backendPID(ctx, c)
}

func backendPID(ctx context.Context, c *pgx.Conn) (uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var pid uint32
	err := c.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid)
	return pid, err
}

func exec(ctx context.Context, c *pgx.Conn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	_, err := c.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	return err
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
