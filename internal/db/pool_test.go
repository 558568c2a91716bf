package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
)

// TestConnectDropsReadOnlyConnections: a write on a connection that has
// become read-only (as a session on a standby is, after a failover that
// left authd connected to the old primary's replacement) fails as
// ErrUnavailable, and the pool does not hand that connection out again:
// the next acquire opens a new one, which target_session_attrs=read-write
// steers to the primary.
func TestConnectDropsReadOnlyConnections(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := db.Connect(ctx, dbtest.URL(t), db.PoolOptions{MaxConns: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first int32
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&first); err != nil {
		t.Fatal(err)
	}
	// The server reports the change (ParameterStatus), as a standby
	// reports in_hot_standby from the start.
	if _, err := c.Exec(ctx, "SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(ctx, "CREATE TABLE refused (id int)")
	if !errors.Is(db.Classify(err), db.ErrUnavailable) {
		t.Errorf("write on a read-only connection: %v, want ErrUnavailable", err)
	}
	c.Release()

	var again int32
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&again); err != nil {
		t.Fatal(err)
	}
	if again == first {
		t.Errorf("the pool handed out the read-only connection (backend %d) again", first)
	}
	var ro string
	if err := pool.QueryRow(context.WithoutCancel(ctx), "SHOW transaction_read_only").Scan(&ro); err != nil {
		t.Fatal(err)
	}
	if ro != "off" {
		t.Errorf("transaction_read_only = %s on the new connection, want off", ro)
	}
}

// TestClassifyConnectionLostAtCommit: a server that vanishes while a
// COMMIT is on its way (a primary killed during a failover: the socket
// just closes, no error message comes) leaves the commit's fate unknown;
// that is ErrUnavailable (503, try again), never an internal error.
func TestClassifyConnectionLostAtCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg, err := pgx.ParseConfig(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	// A TCP proxy to the server's socket that the test can cut.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cut := make(chan struct{})
	network, addr := "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	if !strings.HasPrefix(cfg.Host, "/") { // TEST_DATABASE_URL over TCP
		network, addr = "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial(network, addr)
		if err != nil {
			t.Error(err)
			c.Close()
			return
		}
		go io.Copy(s, c)
		go io.Copy(c, s)
		<-cut
		c.Close()
		s.Close()
	}()
	cfg.Host, cfg.Port = "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	close(cut)
	err = tx.Commit(ctx)
	if err == nil {
		t.Fatal("commit over a cut connection succeeded")
	}
	if !errors.Is(db.Classify(err), db.ErrUnavailable) {
		t.Errorf("commit over a cut connection: %v (%T), want ErrUnavailable", err, err)
	}
}
