// Command devdb runs the development PostgreSQL cluster of make run: a
// persistent cluster in .dev/pg (durable, socket only), started once and
// reused until make db-stop.
//
//	devdb start    create the cluster if need be, start it unless it runs, create
//	               database authd if need be; print its DATABASE_URL
//	devdb stop     stop the cluster (fast shutdown), if it runs
//	devdb bindir   print the directory of the PostgreSQL server binaries; exit 1 if none
//
// Run it from the repository root, or give -dir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/authd/authd/internal/pgcluster"
)

// database is the database authd uses in development.
const database = "authd"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devdb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devdb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".dev/pg", "the cluster's directory: data/, postgres.log and the socket")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: devdb [-dir DIR] start|stop|bindir")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	switch fs.Arg(0) {
	case "start":
		url, err := start(ctx, *dir, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, url)
		return nil
	case "stop":
		return stopCluster(ctx, *dir, stdout)
	case "bindir":
		bin, err := pgcluster.FindBinDir()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, bin)
		return nil
	}
	fs.Usage()
	return flag.ErrHelp
}

func options(dir string) pgcluster.Options {
	return pgcluster.Options{Dir: dir, Durable: true, Detach: true}
}

// start makes sure the cluster runs and has the database, and returns its URL.
func start(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	if !exists(filepath.Join(dir, "data", "PG_VERSION")) {
		fmt.Fprintf(stderr, "creating a PostgreSQL cluster in %s/data\n", dir)
	}
	c, err := pgcluster.New(ctx, options(dir))
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		return "", fmt.Errorf("%w, or set DATABASE_URL", err)
	}
	if err != nil {
		return "", err
	}
	if err := c.Start(ctx); err != nil {
		return "", err
	}
	if err := c.CreateDatabase(ctx, database); err != nil {
		return "", err
	}
	url := c.URL(database)
	fmt.Fprintf(stderr, "database: %s (log in %s; stop it with: make db-stop)\n", url, c.LogPath())
	return url, nil
}

func stopCluster(ctx context.Context, dir string, stdout io.Writer) error {
	if !exists(filepath.Join(dir, "data", "PG_VERSION")) {
		fmt.Fprintln(stdout, "no development cluster")
		return nil
	}
	c, err := pgcluster.New(ctx, options(dir))
	if err != nil {
		return err
	}
	if err := c.Stop(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "development cluster stopped")
	return nil
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
