package db

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A database the tutorial created (GORM AutoMigrate: a users table with a
// "password" column, no schema_migrations) is adopted by MigrateUpAdopting
// in three steps, each safe to repeat and to run from several processes at
// once:
//  1. prepare: refuse if two emails differ only in case or white space (or
//     one is empty), else set the tutorial's table aside as
//     authd_import_users;
//  2. the migrations create authd's schema as on an empty database;
//  3. import: copy the users across (emails trimmed and lower-cased,
//     bcrypt hashes kept: they are rehashed at BCRYPT_COST on the next
//     login), each as Adoption.Check returns it, unverified unless
//     Adoption.TrustVerified, and drop authd_import_users.
// The tutorial's part 3 and 4 columns (verification codes and reset tokens,
// stored unhashed) are not copied. The account rules are not this
// package's: the caller passes them in Check.

// adoptLock is the advisory lock key the adoption steps hold.
const adoptLock = 0x617574686400 // "authd\0"

// ErrTutorialDuplicates: the tutorial's users cannot be adopted as they are.
var ErrTutorialDuplicates = errors.New("tutorial database has emails that are the same once trimmed and lower-cased")

// ErrAdoptionUnchecked: a tutorial database met a migration without the
// account rules (MigrateUp rather than MigrateUpAdopting with a Check).
var ErrAdoptionUnchecked = errors.New("a tutorial database is adopted only with authd's account rules: run authd migrate up")

// TutorialUser is one user of a tutorial database as it is imported.
type TutorialUser struct {
	ID       uuid.UUID
	Name     string
	Email    string // trimmed and lower-cased
	Photo    string
	Password string // the tutorial's hash: never shown
	Verified bool   // the tutorial's flag
}

// Adoption says how a tutorial database's users are imported.
type Adoption struct {
	// Check returns u as authd keeps it, and what it found wrong with u,
	// one short phrase a problem, never a password. Required.
	Check func(u TutorialUser) (TutorialUser, []string)
	// TrustVerified keeps the tutorial's verified flag (as Check left
	// it); otherwise every user is imported unverified.
	TrustVerified bool
	// Report, if set, is told what the import did.
	Report func(AdoptReport)
}

// AdoptReport is what one import did.
type AdoptReport struct {
	Users    int            // imported
	Verified int            // imported verified
	Trusted  bool           // Adoption.TrustVerified
	Problems []AdoptProblem // the users Check found wrong, in import order
}

// AdoptProblem is one user Check found wrong.
type AdoptProblem struct {
	ID       uuid.UUID
	Email    string
	Problems []string
}

// adoptPrepare runs step 1 if url holds a tutorial database.
func adoptPrepare(ctx context.Context, url string, a Adoption) error {
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
		if a.Check == nil {
			return ErrAdoptionUnchecked
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
func adoptImport(ctx context.Context, url string, a Adoption) error {
	var report AdoptReport
	err := adoptTx(ctx, url, func(tx pgx.Tx) error {
		var pending bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('public.authd_import_users') IS NOT NULL`).Scan(&pending); err != nil || !pending {
			return err
		}
		if a.Check == nil {
			return ErrAdoptionUnchecked
		}
		rows, err := tx.Query(ctx, `
			SELECT id, name, lower(btrim(email)), photo, password, verified
			FROM authd_import_users ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		users, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TutorialUser])
		if err != nil {
			return err
		}
		report = AdoptReport{Trusted: a.TrustVerified}
		var c struct {
			ids                            []uuid.UUID
			names, emails, passwords, pics []string
			verified                       []bool
		}
		for _, u := range users {
			id, email, verified := u.ID, u.Email, u.Verified
			u, problems := a.Check(u)
			u.ID, u.Email = id, email // the keys stay as they were
			u.Verified = u.Verified && verified && a.TrustVerified
			if len(problems) > 0 {
				report.Problems = append(report.Problems, AdoptProblem{ID: id, Email: email, Problems: problems})
			}
			if u.Verified {
				report.Verified++
			}
			c.ids, c.names, c.emails = append(c.ids, id), append(c.names, u.Name), append(c.emails, email)
			c.passwords, c.pics, c.verified = append(c.passwords, u.Password), append(c.pics, u.Photo), append(c.verified, u.Verified)
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO users (id, name, email, password_hash, role, provider, photo, verified,
			                   email_verified_at, created_at, updated_at)
			SELECT i.id, c.name, c.email, c.password,
			       CASE WHEN i.role = 'admin' THEN 'admin' ELSE 'user' END,
			       i.provider, c.photo, c.verified, CASE WHEN c.verified THEN i.updated_at END,
			       i.created_at, i.updated_at
			FROM authd_import_users i
			JOIN unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])
			     AS c(id, name, email, password, photo, verified) ON c.id = i.id
			ON CONFLICT (id) DO NOTHING`,
			c.ids, c.names, c.emails, c.passwords, c.pics, c.verified)
		if err != nil {
			return err
		}
		report.Users = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, `DROP TABLE authd_import_users`)
		return err
	})
	if err == nil && a.Report != nil && report.Users+len(report.Problems) > 0 {
		a.Report(report)
	}
	return err
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
