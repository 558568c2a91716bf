package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/internal/totp"
)

// migrateCmd: authd migrate up | down [N] | version, on MIGRATE_DATABASE_URL
// if set, else DATABASE_URL. It reads only the database settings
// (config.LoadMigrate): a migration Job needs no keys and no mail settings.
func migrateCmd(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	cfg, err := loadConfigWith(config.LoadMigrate, fs, args, lookupEnv)
	if err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("migrate: want up, down [N], force V or version")
	}
	url := migrationURL(cfg)
	defer func() { err = explainPooled(cfg, err) }()
	switch rest[0] {
	case "up":
		report := func(r db.AdoptReport) { printAdoption(stdout, r) }
		if err := db.MigrateUpAdopting(ctx, url, adoption(cfg, report)); err != nil {
			return err
		}
	case "down":
		steps := 1
		if len(rest) > 1 {
			if steps, err = strconv.Atoi(rest[1]); err != nil || steps < 1 {
				return fmt.Errorf("migrate down: N must be a positive number")
			}
		}
		if err := db.MigrateDown(ctx, url, steps); err != nil {
			return err
		}
	case "force":
		if len(rest) < 2 {
			return fmt.Errorf("migrate force: want the version to record")
		}
		v, err := strconv.Atoi(rest[1])
		if err != nil || v < 0 {
			return fmt.Errorf("migrate force: version must be a number")
		}
		if err := db.MigrateForce(ctx, url, v); err != nil {
			return err
		}
	case "version":
	default:
		return fmt.Errorf("migrate: unknown action %q; want up, down [N], force V or version", rest[0])
	}
	v, dirty, err := db.MigrationVersion(ctx, url)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d", v)
	if dirty {
		fmt.Fprint(stdout, " (dirty: a migration failed half-way; repair the schema by hand, then `authd migrate force N` with the version it is now at, then `authd migrate up`)")
	}
	fmt.Fprintln(stdout)
	return nil
}

// keygen prints env lines with fresh access and refresh key pairs, base64
// PEM as the tutorial's app.env expects, and an MFA_ENCRYPTION_KEYS entry.
func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	alg := fs.String("alg", "RS256", "key type: RS256 (RSA 2048), ES256 (P-256, about 40x cheaper to sign) or EdDSA (Ed25519)")
	mfaOnly := fs.Bool("mfa", false, "print only an MFA_ENCRYPTION_KEYS line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kinds := []string{"ACCESS", "REFRESH"}
	if *mfaOnly {
		kinds = nil
	}
	for _, kind := range kinds {
		priv, pub, err := token.GenerateKey(*alg)
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		fmt.Fprintf(stdout, "%s_TOKEN_PRIVATE_KEY=%s\n", kind, base64.StdEncoding.EncodeToString(priv))
		fmt.Fprintf(stdout, "%s_TOKEN_PUBLIC_KEY=%s\n", kind, base64.StdEncoding.EncodeToString(pub))
	}
	fmt.Fprintf(stdout, "MFA_ENCRYPTION_KEYS=%s\n", totp.GenerateKey(time.Now()))
	return nil
}

// healthcheck exits 0 when /healthz answers 200, for images without curl.
func healthcheck(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	port := "8000"
	if p, ok := lookupEnv("PORT"); ok && p != "" {
		port = p
	}
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	url := fs.String("url", "http://"+net.JoinHostPort("127.0.0.1", port)+"/healthz", "URL to check")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *url, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
