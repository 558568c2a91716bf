package dbtest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestTmpTiming(t *testing.T) {
	s := Cluster(t)
	s.URL(t)
	ctx := context.Background()
	var url []time.Duration
	for i := 0; i < 20; i++ {
		st := time.Now()
		s.URL(t)
		url = append(url, time.Since(st))
	}
	conn, err := pgx.Connect(ctx, s.base)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]time.Duration{}
	for i := 0; i < 20; i++ {
		for _, st := range []string{"WAL_LOG", "FILE_COPY"} {
			name := fmt.Sprintf("x_%s_%d", st, i)
			t0 := time.Now()
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE authd_template STRATEGY "+st); err != nil {
				t.Fatal(err)
			}
			res[st] = append(res[st], time.Since(t0))
			t0 = time.Now()
			if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				t.Fatal(err)
			}
			res["drop"] = append(res["drop"], time.Since(t0))
		}
	}
	var ping []time.Duration
	for i := 0; i < 10; i++ {
		st := time.Now()
		if err := ping_(ctx, s.base); err != nil {
			t.Fatal(err)
		}
		ping = append(ping, time.Since(st))
	}
	med := func(d []time.Duration) string {
		slices.Sort(d)
		return fmt.Sprintf("median %v p90 %v", d[len(d)/2].Round(time.Millisecond/10), d[len(d)*9/10].Round(time.Millisecond/10))
	}
	t.Log("URL:", med(url))
	for k, v := range res {
		t.Log(k, med(v))
	}
	t.Log("connect:", med(ping))
}

var ping_ = ping
