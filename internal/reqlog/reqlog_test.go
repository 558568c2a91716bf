package reqlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"testing"
)

func TestLoggerAddsTheRequest(t *testing.T) {
	var b bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&b, nil)))
	if Logger(log) != log {
		t.Error("Logger wrapped a logger twice")
	}
	ctx := With(context.Background(), Request{ID: "r1", Client: "192.0.2.1", Trace: "4bf92f3577b34da6a3ce929d0e0e4736"})
	log.With("k", "v").LogAttrs(ctx, slog.LevelInfo, "login failed", LoginFailed.Attr())
	log.Info("no request")
	dec := json.NewDecoder(&b)
	var got, plain map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&plain); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"event": "login.failed", "request_id": "r1", "client_addr": "192.0.2.1",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "k": "v"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %s", k, got[k], want)
		}
	}
	for _, k := range []string{"request_id", "client_addr", "trace_id"} {
		if _, ok := plain[k]; ok {
			t.Errorf("a line without a request has %s", k)
		}
	}
	if Logger(nil) != nil {
		t.Error("Logger(nil) is not nil")
	}
}

func TestEventsAreStable(t *testing.T) {
	name := regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)
	seen := map[Event]bool{}
	for _, e := range Events() {
		if !name.MatchString(string(e)) || seen[e] {
			t.Errorf("event %q: malformed or listed twice", e)
		}
		seen[e] = true
	}
}
