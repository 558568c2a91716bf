package verify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/verify"
)

// A resource service: it checks authd's access tokens offline and learns
// of logouts from authd's session.revoked webhooks. authd's WEBHOOKS_FILE
// names this service's /webhooks/authd with the same secret:
//
//	{"endpoints": [{"id": "orders", "url": "https://orders.internal/webhooks/authd",
//	  "events": ["session.revoked"], "secrets": ["whsec_..."]}]}
func Example() {
	deny := verify.NewDenySet(verify.DenyOptions{})
	v, err := verify.New(verify.Options{
		JWKSURL:  "https://auth.example.com/.well-known/jwks.json",
		Issuer:   "https://auth.example.com", // authd's TOKEN_ISSUER
		Audience: "orders",                   // authd's TOKEN_AUDIENCE
		Deny:     deny,
	})
	if err != nil {
		log.Fatal(err)
	}
	webhook, err := deny.Handler(os.Getenv("WEBHOOK_SECRET"))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/authd", webhook)
	mux.HandleFunc("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		claims, err := v.Verify(r.Context(), token)
		switch {
		case errors.Is(err, verify.ErrInvalid): // bad, expired or revoked
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		case err != nil: // authd's key set unreachable so far
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if claims.AAL < 2 {
			http.Error(w, "a second factor is needed", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"user": claims.Subject})
	})

	// Fail early if authd's key set cannot be fetched.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Refresh(ctx); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8081", mux))
}

// A session.revoked delivery, signed as authd signs it, puts its session
// in the deny-set until its last access token has expired.
func ExampleDenySet_Handler() {
	key := []byte("an example secret of 32 bytes!!!")
	deny := verify.NewDenySet(verify.DenyOptions{})
	h, err := deny.Handler("whsec_" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		log.Fatal(err)
	}

	session := "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	body := `{"type":"session.revoked","timestamp":"2027-01-15T08:00:00Z","data":{` +
		`"session_id":"` + session + `","reason":"logout_current",` +
		`"access_expires_by":"` + time.Now().Add(15*time.Minute).UTC().Format(time.RFC3339) + `"}}`
	id, ts := "evt_42", strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))

	r := httptest.NewRequest(http.MethodPost, "/webhooks/authd", strings.NewReader(body))
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	fmt.Println(w.Code, deny.Denied(session))
	// Output: 204 true
}

// Revoked sessions are held until their access tokens expire, and no
// longer.
func ExampleDenySet() {
	now := time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC)
	deny := verify.NewDenySet(verify.DenyOptions{Max: 10_000, Now: func() time.Time { return now }})
	deny.Add("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", now.Add(15*time.Minute))
	fmt.Println(deny.Denied("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"), deny.Len())

	now = now.Add(15*time.Minute + verify.DenyMargin)
	fmt.Println(deny.Denied("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"), deny.Len())
	// Output:
	// true 1
	// false 0
}
