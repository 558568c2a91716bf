// Command authd is a JWT authentication service.
//
//	authd [serve]            run the service (default)
//	authd migrate up|down N|force V|version
//	authd keygen [-alg RS256|ES256|EdDSA]
//	authd healthcheck [-url URL]
//	authd user list|show|create|verify|set-role|set-password|revoke-sessions|reset-link|delete ...
//	authd mail list|retry|test ...
//	authd events [-user EMAIL] [-since D] [-limit N] [-json]
//	authd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/authd/authd/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authd:", err)
		os.Exit(1)
	}
}

// run is the whole program; main calls it with the process's arguments,
// environment and standard streams, and tests call it in-process. Only
// the operator's commands (user, mail) read stdin: a password, or the
// answer to "delete?".
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && (args[0][0] != '-' || isHelp(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, lookupEnv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args, lookupEnv, stdout)
	case "keygen":
		return keygen(args, stdout)
	case "healthcheck":
		return healthcheck(ctx, args, lookupEnv, stdout)
	case "user":
		return userCmd(ctx, args, adminIO{lookupEnv: lookupEnv, stdin: stdin, stdout: stdout, stderr: stderr})
	case "mail":
		return mailCmd(ctx, args, adminIO{lookupEnv: lookupEnv, stdin: stdin, stdout: stdout, stderr: stderr})
	case "events":
		return eventsCmd(ctx, args, adminIO{lookupEnv: lookupEnv, stdin: stdin, stdout: stdout, stderr: stderr})
	case "version":
		fmt.Fprintln(stdout, "authd", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// loadConfig reads the optional env file (the tutorial's app.env format) and
// the environment, which wins.
func loadConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (config.Config, error) {
	return loadConfigWith(config.Load, fs, args, lookupEnv)
}

// loadConfigWith is loadConfig with the settings that load reads: all of
// them (config.Load), or a command's own (config.LoadMigrate).
func loadConfigWith(load func(func(string) string) (config.Config, error), fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (config.Config, error) {
	envFile := fs.String("env-file", "", "read settings from this file (default: ./app.env if it exists)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	path, explicit := *envFile, *envFile != ""
	if !explicit {
		path = "app.env"
	}
	values := map[string]string{}
	f, err := os.Open(path)
	switch {
	case err == nil:
		values, err = config.ParseEnvFile(f)
		f.Close()
		if err != nil {
			return config.Config{}, fmt.Errorf("%s: %w", path, err)
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return config.Config{}, fmt.Errorf("env file: %w", err)
	}
	cfg, err := load(config.Lookup(lookupEnv, values))
	if err != nil {
		return config.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

const usage = `usage: authd [command] [flags]

commands:
  serve        run the service (the default)        [-env-file F] [-no-migrate]
  migrate      up | down [N] | force V | version     [-env-file F]
  keygen       print fresh key pairs as env lines    [-alg RS256|ES256|EdDSA]
  healthcheck  exit 0 if /healthz answers 200        [-url URL] [-timeout D]
  user         accounts: list | show | create | verify | set-role |
               set-password | revoke-sessions | reset-link | delete
                                                     (authd user help)
  mail         the outbox: list | retry ID | test TO (authd mail help)
  events       the security event log, oldest first  [-user EMAIL|ID] [-since 24h|RFC3339]
                                                     [-limit N] [-json]
  version      print the version

user, mail and events work on the database of the same configuration as
serve, read passwords from stdin or a prompt (never the command line) and
write one audit line each to stderr, naming the operator (-as NAME, else
AUTHD_OPERATOR, else SUDO_USER, else the OS user).
`
