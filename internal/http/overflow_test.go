package http

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestPacerOverflowClosesConnection: a refusal the pacer has no room to
// hold is answered at once, with Connection: close, so that each refusal
// beyond the pacer's room costs the client a new connection; a refusal it
// holds keeps the connection. Decisions only, no timing.
func TestPacerOverflowClosesConnection(t *testing.T) {
	t.Parallel()
	if pacedMax < 4096 {
		t.Errorf("pacedMax %d: a flood of a few hundred connections would find the pacer full", pacedMax)
	}
	log := slog.New(slog.DiscardHandler)
	full := newPacer(time.Hour, 1)
	full.slots <- struct{}{} // every place taken
	room := newPacer(time.Millisecond, 1)
	refuse := func(p *pacer) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r.WithContext(context.WithValue(r.Context(), pacerKey{}, p)), log, errBusy)
		})
	}
	for _, tt := range []struct {
		name  string
		p     *pacer
		close bool
	}{
		{"pacer full", full, true},
		{"pacer with room", room, false},
		{"no pacer", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			refuse(tt.p).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/auth/login", nil))
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
				t.Errorf("%d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
			}
			if got := w.Header().Get("Connection") == "close"; got != tt.close {
				t.Errorf("Connection: close %v, want %v", got, tt.close)
			}
		})
	}

	// Over a real connection: the server ends it after the overflow's answer.
	srv := httptest.NewServer(refuse(full))
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		if _, err := io.WriteString(c, "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
			if i == 1 {
				return // closed already
			}
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if i == 1 {
			if err == nil {
				t.Errorf("a second request on the connection was answered %d; want the connection closed", resp.StatusCode)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !resp.Close {
			t.Error("the overflow's answer does not close the connection")
		}
	}
}
