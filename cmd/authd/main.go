// Command authd is a JWT authentication service.
//
//	authd [serve]            run the service (default)
//	authd migrate up|down N|force V|version
//	authd keygen [-alg RS256|ES256|EdDSA]
//	authd healthcheck [-url URL]
//	authd version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authd:", err)
		os.Exit(1)
	}
}

// run is the whole program; tests call it directly.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
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
	case "version":
		fmt.Fprintln(stdout, "authd", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage: authd [command] [flags]

commands:
  serve        run the service (the default)        [-env-file F] [-no-migrate]
  migrate      up | down [N] | force V | version     [-env-file F]
  keygen       print fresh key pairs as env lines    [-alg RS256|ES256|EdDSA]
  healthcheck  exit 0 if /healthz answers 200        [-url URL] [-timeout D]
  version      print the version
`
