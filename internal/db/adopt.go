package db

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A database the tutorial created (GORM AutoMigrate: a users table with a
// "password" column, no schema_migrations) is adopted by MigrateUp in three
// steps, each safe to repeat and to run from several processes at once:
//  1. prepare: refuse if two emails differ only in case or white space (or
//     one is empty), else set the tutorial's table aside as
//     authd_import_users;
//  2. the migrations create authd's schema as on an empty database;
//  3. import: copy the users across (emails trimmed and lower-cased,
//     bcrypt hashes kept: they are rehashed at BCRYPT_COST on the next
//     login) and drop authd_import_users.
// The tutorial's part 3 and 4 columns (verification codes and reset tokens,
// stored unhashed) are not copied.

// adoptLock is the advisory lock key the adoption steps hold.
const adoptLock = 0x617574686400 // "authd\0"

// ErrTutorialDuplicates: the tutorial's users cannot be adopted as they are.
var ErrTutorialDuplicates = errors.New("tutorial database has emails that are the same once trimmed and lower-cased")

// adoptPrepare runs step 1 if url holds a tutorial database.
func adoptPrepare(ctx context.Context, url string) error {
	return adoptTx(ctx, url, func(tx pgx.Tx) error {
		var tutorial bool
		err := tx.QueryRow(ctx, `
			SELECT to_regclass('public.schema_migrations') IS NULL
			   AND EXISTS (SELECT 1 FROM information_schema.columns
			               WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'password')
			   AND NOT EXISTS (SELECT 1 FROM information_schema.columns
			               WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'password_hash')`).Scan(&tutorial)
		if err != nil || !tutorial {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT lower(btrim(email)) AS normal, string_agg(email, ', ' ORDER BY email)
			FROM users GROUP BY 1 HAVING count(*) > 1 OR lower(btrim(email)) = ''
			ORDER BY 1 LIMIT 50`)
		if err != nil {
			return err
		}
		var clashes []string
		for rows.Next() {
			var normal, emails string
			if err := rows.Scan(&normal, &emails); err != nil {
				return err
			}
			clashes = append(clashes, fmt.Sprintf("%q: %s", normal, emails))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(clashes) > 0 {
			return fmt.Errorf("%w; merge or rename them, then run authd migrate up again:\n  %s",
				ErrTutorialDuplicates, strings.Join(clashes, "\n  "))
		}
		_, err = tx.Exec(ctx, `
			ALTER TABLE users RENAME TO authd_import_users;
			ALTER TABLE authd_import_users RENAME CONSTRAINT users_pkey TO authd_import_users_pkey`)
		return err
	})
}

// adoptImport runs step 3 if step 1 set a tutorial table aside.
func adoptImport(ctx context.Context, url string) error {
	return adoptTx(ctx, url, func(tx pgx.Tx) error {
		var pending bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('public.authd_import_users') IS NOT NULL`).Scan(&pending); err != nil || !pending {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO users (id, name, email, password_hash, role, provider, photo, verified,
			                   email_verified_at, created_at, updated_at)
			SELECT id, name, lower(btrim(email)), password,
			       CASE WHEN role = 'admin' THEN 'admin' ELSE 'user' END,
			       provider, photo, verified, CASE WHEN verified THEN updated_at END, created_at, updated_at
			FROM authd_import_users
			ON CONFLICT (id) DO NOTHING;
			DROP TABLE authd_import_users`)
		return err
	})
}

// adoptTx runs f in a transaction that holds the adoption lock.
func adoptTx(ctx context.Context, url string, f func(pgx.Tx) error) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("adopt: connect: %w", Classify(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(adoptLock)); err != nil {
			return err
		}
		return f(tx)
	})
	if err != nil {
		return fmt.Errorf("adopt tutorial database: %w", Classify(err))
	}
	return nil
}
