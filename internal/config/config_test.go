package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fake base64 PEM blobs: this package never parses keys.
const (
	accessPrivate  = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpmYWtlIGFjY2VzcyBrZXkKLS0tLS1FTkQgUlNBIFBSSVZBVEUgS0VZLS0tLS0K"
	accessPublic   = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KZmFrZSBhY2Nlc3MgcHViCi0tLS0tRU5EIFBVQkxJQyBLRVktLS0tLQo="
	refreshPrivate = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpmYWtlIHJlZnJlc2gga2V5Ci0tLS0tRU5EIFJTQSBQUklWQVRFIEtFWS0tLS0tCg=="
	refreshPublic  = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KZmFrZSByZWZyZXNoIHB1YgotLS0tLUVORCBQVUJMSUMgS0VZLS0tLS0K"
)

// tutorialAppEnv is the tutorial's app.env, with stand-ins for its published keys.
const tutorialAppEnv = `POSTGRES_HOST=127.0.0.1
POSTGRES_USER=postgres
POSTGRES_PASSWORD=password123
POSTGRES_DB=golang-gorm
POSTGRES_PORT=6500

PORT=8000
CLIENT_ORIGIN=http://localhost:3000

ACCESS_TOKEN_PRIVATE_KEY=` + accessPrivate + `
ACCESS_TOKEN_PUBLIC_KEY=` + accessPublic + `
ACCESS_TOKEN_EXPIRED_IN=15m
ACCESS_TOKEN_MAXAGE=15

REFRESH_TOKEN_PRIVATE_KEY=` + refreshPrivate + `
REFRESH_TOKEN_PUBLIC_KEY=` + refreshPublic + `
REFRESH_TOKEN_EXPIRED_IN=60m
REFRESH_TOKEN_MAXAGE=60
`

// mapEnv is a getenv backed by a map.
func mapEnv(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// minimal returns only the required variables.
func minimal() map[string]string {
	return map[string]string{
		"POSTGRES_HOST":             "localhost",
		"ACCESS_TOKEN_PRIVATE_KEY":  accessPrivate,
		"REFRESH_TOKEN_PRIVATE_KEY": refreshPrivate,
	}
}

// with returns a copy of base with name, value pairs set. An empty value counts as unset.
func with(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func mustLoad(t *testing.T, env map[string]string) Config {
	t.Helper()
	c, err := Load(mapEnv(env))
	if err != nil {
		t.Fatalf("Load: unexpected error:\n%v", err)
	}
	return c
}

func TestLoadDefaults(t *testing.T) {
	got := mustLoad(t, minimal())
	want := Config{
		DatabaseURL:          "postgres://localhost:5432/",
		ListenAddr:           ":8000",
		AccessPrivateKey:     accessPrivate,
		RefreshPrivateKey:    refreshPrivate,
		AccessTTL:            15 * time.Minute,
		RefreshTTL:           60 * time.Minute,
		AccessMaxAge:         15 * time.Minute,
		RefreshMaxAge:        60 * time.Minute,
		SessionLifetime:      168 * time.Hour,
		ReuseGrace:           10 * time.Second,
		Issuer:               "authd",
		Audience:             "authd",
		Leeway:               5 * time.Second,
		BcryptCost:           12,
		HashConcurrency:      min(runtime.GOMAXPROCS(0), 256),
		HashQueue:            64,
		HashKnownDeviceShare: 0.25,
		HashWait:             2 * time.Second,
		HashNice:             10,

		PasswordMinLength:     8,
		PasswordBreachURL:     "https://api.pwnedpasswords.com/range/",
		PasswordBreachTimeout: 2 * time.Second,

		ShutdownDelay:         0,
		LoginFailureThreshold: 5,
		LoginLockBase:         time.Second,
		LoginLockMax:          15 * time.Minute,
		IPLoginPerMinute:      30,
		IPLoginBurst:          10,
		IPRegisterPerMinute:   10,
		IPRegisterBurst:       5,
		IPRefreshPerMinute:    120,
		IPRefreshBurst:        30,
		IPv6Prefix:            64,
		IPv6SitePrefix:        48,
		RefreshFormat:         "mac",
		CookieSecure:          true,
		DBTimeout:             3 * time.Second,
		DBMaxConns:            16,
		RequestTimeout:        10 * time.Second,
		RefusalDelay:          time.Second,
		ShutdownTimeout:       20 * time.Second,
		MetricsAddr:           "127.0.0.1:9090",
		MigrateOnStart:        true,
		DBStartupWait:         time.Minute,
		LogLevel:              slog.LevelInfo,
		LogFormat:             "json",

		MailTransport:       "off",
		EmailFromName:       "authd",
		MFAIssuer:           "authd",
		WebhookTimeout:      5 * time.Second,
		WebhookPollInterval: 5 * time.Second,
		SMTPPort:            587,
		SMTPTLS:             "starttls",
		SMTPTimeout:         10 * time.Second,
		EmailVerifyPath:     "/verifyemail/{token}",
		PasswordResetPath:   "/forgotPassword/{token}",
		EmailChangePath:     "/confirm-email/{token}",
		ForgotPasswordPath:  "/forgotPassword",
		VerifyTokenTTL:      24 * time.Hour,
		ResetTokenTTL:       15 * time.Minute,
		EmailChangeTokenTTL: time.Hour,
		MailWorker:          true,
		MailPollInterval:    5 * time.Second,
		MailMaxAttempts:     8,
		MailRetention:       168 * time.Hour,
		EmailVerification:   "off",
		MailCooldown:        time.Minute,
		MailMaxPerHour:      5,
		NewDeviceMail:       true,
		IPMailPerMinute:     5,
		IPMailBurst:         5,
		EventRetention:      90 * 24 * time.Hour,
	}
	want.WebAuthnRPName, want.WebAuthnCounterRegression = "authd", "refuse"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(required only):\n got %#v\nwant %#v", fields(got), fields(want))
	}
}

// fields prints a Config field by field, secrets included, for test failure messages
// (Config's own String redacts them).
func fields(c Config) string {
	type plain Config
	return fmt.Sprintf("%+v", plain(c))
}

func TestLoadTutorialAppEnv(t *testing.T) {
	file, err := ParseEnvFile(strings.NewReader(tutorialAppEnv))
	if err != nil {
		t.Fatalf("ParseEnvFile: %v", err)
	}
	c, err := Load(Lookup(func(string) (string, bool) { return "", false }, file))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"DatabaseURL", c.DatabaseURL, "postgres://postgres:password123@127.0.0.1:6500/golang-gorm"},
		{"ListenAddr", c.ListenAddr, ":8000"},
		{"ClientOrigins", c.ClientOrigins, []string{"http://localhost:3000"}},
		{"AccessPrivateKey", c.AccessPrivateKey, accessPrivate},
		{"AccessPublicKey", c.AccessPublicKey, accessPublic},
		{"RefreshPrivateKey", c.RefreshPrivateKey, refreshPrivate},
		{"RefreshPublicKey", c.RefreshPublicKey, refreshPublic},
		{"AccessTTL", c.AccessTTL, 15 * time.Minute},
		{"RefreshTTL", c.RefreshTTL, 60 * time.Minute},
		{"AccessMaxAge", c.AccessMaxAge, 15 * time.Minute},
		{"RefreshMaxAge", c.RefreshMaxAge, 60 * time.Minute},
		{"AccessMaxAge seconds", int(c.AccessMaxAge.Seconds()), 15 * 60},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadMaxAgeIsMinutes(t *testing.T) {
	tests := []struct {
		env                    map[string]string
		wantAccess, wantRefres time.Duration
	}{
		{minimal(), 15 * time.Minute, 60 * time.Minute},
		{with(minimal(), "ACCESS_TOKEN_MAXAGE", "20", "REFRESH_TOKEN_MAXAGE", "120"), 20 * time.Minute, 120 * time.Minute},
		// Defaults follow the TTLs, which need not be whole minutes.
		{with(minimal(), "ACCESS_TOKEN_EXPIRED_IN", "90s", "REFRESH_TOKEN_EXPIRED_IN", "2h"), 90 * time.Second, 2 * time.Hour},
	}
	for _, tt := range tests {
		c := mustLoad(t, tt.env)
		if c.AccessMaxAge != tt.wantAccess || c.RefreshMaxAge != tt.wantRefres {
			t.Errorf("MaxAge = %v, %v, want %v, %v", c.AccessMaxAge, c.RefreshMaxAge, tt.wantAccess, tt.wantRefres)
		}
	}
}

func TestLoadDatabaseURL(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{
			name: "DATABASE_URL wins and POSTGRES_* are ignored",
			env: with(minimal(), "DATABASE_URL", "postgres://app:pw@db.internal:5433/authd?sslmode=verify-full",
				"POSTGRES_HOST", "other", "POSTGRES_PORT", "not-a-port", "POSTGRES_USER", "x"),
			want: "postgres://app:pw@db.internal:5433/authd?sslmode=verify-full",
		},
		{
			name: "postgresql scheme",
			env:  with(minimal(), "DATABASE_URL", "postgresql://app@localhost/authd", "POSTGRES_HOST", ""),
			want: "postgresql://app@localhost/authd",
		},
		{
			name: "all parts",
			env:  with(minimal(), "POSTGRES_HOST", "db", "POSTGRES_PORT", "6500", "POSTGRES_USER", "app", "POSTGRES_PASSWORD", "pw", "POSTGRES_DB", "authd"),
			want: "postgres://app:pw@db:6500/authd",
		},
		{
			name: "user without password",
			env:  with(minimal(), "POSTGRES_USER", "app", "POSTGRES_DB", "authd"),
			want: "postgres://app@localhost:5432/authd",
		},
		{
			name: "IPv6 host",
			env:  with(minimal(), "POSTGRES_HOST", "::1", "POSTGRES_USER", "app", "POSTGRES_DB", "authd"),
			want: "postgres://app@[::1]:5432/authd",
		},
		{
			name: "socket directory",
			env:  with(minimal(), "POSTGRES_HOST", "/var/run/postgresql", "POSTGRES_USER", "postgres", "POSTGRES_DB", "authd"),
			want: "postgres://postgres@/authd?host=%2Fvar%2Frun%2Fpostgresql&port=5432",
		},
		{
			name: "special characters escaped",
			env:  with(minimal(), "POSTGRES_USER", "me@corp", "POSTGRES_PASSWORD", "p@ss:w/rd", "POSTGRES_DB", "a b"),
			want: "postgres://me%40corp:p%40ss%3Aw%2Frd@localhost:5432/a%20b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, tt.env).DatabaseURL
			if got != tt.want {
				t.Errorf("DatabaseURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLoadDatabaseURLRoundTrip checks that awkward parts survive escaping: a parser reads
// back exactly what was configured.
func TestLoadDatabaseURLRoundTrip(t *testing.T) {
	tests := []struct {
		host, port, user, password, db string
	}{
		{"db.example.com", "5432", "app", `p@ss:w/rd?#%&= "x"'\`, "authd"},
		{"127.0.0.1", "6500", "user name", " leading and trailing spaces ", "db/with/slashes"},
		{"::1", "5432", "ü:ser", "ünïcödé🔑", "dä tä?#"},
		{"/tmp/pg sock", "5433", "postgres", "%2F%40", "x%y"},
	}
	for _, tt := range tests {
		env := with(minimal(), "POSTGRES_HOST", tt.host, "POSTGRES_PORT", tt.port,
			"POSTGRES_USER", tt.user, "POSTGRES_PASSWORD", tt.password, "POSTGRES_DB", tt.db)
		raw := mustLoad(t, env).DatabaseURL
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("url.Parse(%q): %v", raw, err)
			continue
		}
		password, _ := u.User.Password()
		host, port := u.Hostname(), u.Port()
		if u.Host == "" {
			host, port = u.Query().Get("host"), u.Query().Get("port")
		}
		got := []string{u.Scheme, host, port, u.User.Username(), password, strings.TrimPrefix(u.Path, "/")}
		want := []string{"postgres", tt.host, tt.port, tt.user, tt.password, tt.db}
		if !slices.Equal(got, want) {
			t.Errorf("parsed back %q, want %q (URL %q)", got, want, raw)
		}
	}
}

func TestLoadValidValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) (got, want any)
	}{
		{"LISTEN_HOST and PORT", with(minimal(), "LISTEN_HOST", "127.0.0.1", "PORT", "9000"),
			func(c Config) (any, any) { return c.ListenAddr, "127.0.0.1:9000" }},
		{"IPv6 LISTEN_HOST", with(minimal(), "LISTEN_HOST", "::1", "PORT", "0"),
			func(c Config) (any, any) { return c.ListenAddr, "[::1]:0" }},
		{"white space trimmed", with(minimal(), "PORT", " 8080 ", "ACCESS_TOKEN_EXPIRED_IN", "\t20m\n"),
			func(c Config) (any, any) { return []any{c.ListenAddr, c.AccessTTL}, []any{":8080", 20 * time.Minute} }},
		{"empty counts as unset", with(minimal(), "PORT", "", "BCRYPT_COST", "  ", "LOG_FORMAT", ""),
			func(c Config) (any, any) {
				return []any{c.ListenAddr, c.BcryptCost, c.LogFormat}, []any{":8000", 12, "json"}
			}},
		{"verify keys", with(minimal(), "ACCESS_TOKEN_VERIFY_KEYS", "a1, b2,,", "REFRESH_TOKEN_VERIFY_KEYS", "c3"),
			func(c Config) (any, any) {
				return [][]string{c.AccessVerifyKeys, c.RefreshVerifyKeys}, [][]string{{"a1", "b2"}, {"c3"}}
			}},
		{"booleans", with(minimal(), "COOKIE_SECURE", "false", "MIGRATE_ON_START", "0"),
			func(c Config) (any, any) { return []bool{c.CookieSecure, c.MigrateOnStart}, []bool{false, false} }},
		{"log level and format are case-insensitive", with(minimal(), "LOG_LEVEL", "DEBUG", "LOG_FORMAT", "Text"),
			func(c Config) (any, any) { return []any{c.LogLevel, c.LogFormat}, []any{slog.LevelDebug, "text"} }},
		{"log level warn", with(minimal(), "LOG_LEVEL", "warn"),
			func(c Config) (any, any) { return c.LogLevel, slog.LevelWarn }},
		{"log level error", with(minimal(), "LOG_LEVEL", "error"),
			func(c Config) (any, any) { return c.LogLevel, slog.LevelError }},
		{"cookie domain", with(minimal(), "COOKIE_DOMAIN", "example.com"),
			func(c Config) (any, any) { return c.CookieDomain, "example.com" }},
		{"bounds inclusive", with(minimal(), "BCRYPT_COST", "10", "TOKEN_LEEWAY", "0", "REFRESH_REUSE_GRACE", "1m",
			"HASH_QUEUE", "0", "HASH_CONCURRENCY", "256", "DB_MAX_CONNS", "1000", "DB_TIMEOUT", "100ms"),
			func(c Config) (any, any) {
				return []any{c.BcryptCost, c.Leeway, c.ReuseGrace, c.HashQueue, c.HashConcurrency, c.DBMaxConns, c.DBTimeout},
					[]any{10, time.Duration(0), time.Minute, 0, 256, int32(1000), 100 * time.Millisecond}
			}},
		{"session lifetime may equal refresh TTL", with(minimal(), "SESSION_MAX_LIFETIME", "1h"),
			func(c Config) (any, any) { return c.SessionLifetime, time.Hour }},
		{"metrics: empty counts as unset, the loopback listener", with(minimal(), "METRICS_ADDR", " "),
			func(c Config) (any, any) { return c.MetricsAddr, "127.0.0.1:9090" }},
		{"metrics on the main port only when asked", with(minimal(), "METRICS_ADDR", "main"),
			func(c Config) (any, any) { return c.MetricsAddr, "main" }},
		{"metrics off", with(minimal(), "METRICS_ADDR", "off"),
			func(c Config) (any, any) { return c.MetricsAddr, "off" }},
		{"metrics on every interface", with(minimal(), "METRICS_ADDR", ":9090"),
			func(c Config) (any, any) { return c.MetricsAddr, ":9090" }},
		{"profiles on the default metrics listener", with(minimal(), "PPROF", "true"),
			func(c Config) (any, any) { return []any{c.Pprof, c.MetricsAddr}, []any{true, "127.0.0.1:9090"} }},
		{"issuer and audience", with(minimal(), "TOKEN_ISSUER", "https://auth.example.com", "TOKEN_AUDIENCE", "api"),
			func(c Config) (any, any) {
				return []string{c.Issuer, c.Audience}, []string{"https://auth.example.com", "api"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := tt.check(mustLoad(t, tt.env))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLoadInvalidValues(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // one whole line of the error
	}{
		{with(minimal(), "ACCESS_TOKEN_EXPIRED_IN", "15x"), `ACCESS_TOKEN_EXPIRED_IN: "15x" is not a duration (e.g. 15m)`},
		{with(minimal(), "ACCESS_TOKEN_EXPIRED_IN", "15"), `ACCESS_TOKEN_EXPIRED_IN: "15" is not a duration: add a unit (e.g. 15m or 15s)`},
		{with(minimal(), "ACCESS_TOKEN_EXPIRED_IN", "5s"), `ACCESS_TOKEN_EXPIRED_IN: 5s is out of range (want 10s to 24h)`},
		{with(minimal(), "ACCESS_TOKEN_EXPIRED_IN", "25h"), `ACCESS_TOKEN_EXPIRED_IN: 25h is out of range (want 10s to 24h)`},
		{with(minimal(), "REFRESH_TOKEN_EXPIRED_IN", "15m"), `REFRESH_TOKEN_EXPIRED_IN: 15m must be longer than ACCESS_TOKEN_EXPIRED_IN (15m)`},
		{with(minimal(), "REFRESH_TOKEN_EXPIRED_IN", "-1h"), `REFRESH_TOKEN_EXPIRED_IN: -1h is out of range (want at least 1s)`},
		{with(minimal(), "SESSION_MAX_LIFETIME", "30m"), `SESSION_MAX_LIFETIME: 30m must be at least REFRESH_TOKEN_EXPIRED_IN (1h)`},
		{with(minimal(), "ACCESS_TOKEN_MAXAGE", "15m"), `ACCESS_TOKEN_MAXAGE: "15m" is not a whole number of minutes (e.g. 15)`},
		{with(minimal(), "ACCESS_TOKEN_MAXAGE", "0"), `ACCESS_TOKEN_MAXAGE: "0" is out of range (want 1 to 525600 minutes)`},
		{with(minimal(), "REFRESH_TOKEN_MAXAGE", "99999999999999999999"), `REFRESH_TOKEN_MAXAGE: "99999999999999999999" is out of range (want 1 to 525600 minutes)`},
		{with(minimal(), "REFRESH_REUSE_GRACE", "2m"), `REFRESH_REUSE_GRACE: 2m is out of range (want 0s to 1m)`},
		{with(minimal(), "TOKEN_LEEWAY", "31s"), `TOKEN_LEEWAY: 31s is out of range (want 0s to 30s)`},
		{with(minimal(), "BCRYPT_COST", "9"), `BCRYPT_COST: "9" is out of range (want 10 to 16)`},
		{with(minimal(), "BCRYPT_COST", "17"), `BCRYPT_COST: "17" is out of range (want 10 to 16)`},
		{with(minimal(), "BCRYPT_COST", "twelve"), `BCRYPT_COST: "twelve" is not an integer (want 10 to 16)`},
		{with(minimal(), "BCRYPT_COST", "99999999999999999999"), `BCRYPT_COST: "99999999999999999999" is out of range (want 10 to 16)`},
		{with(minimal(), "COOKIE_SECURE", "yes"), `COOKIE_SECURE: "yes" is not a boolean (want true or false)`},
		{with(minimal(), "MIGRATE_ON_START", "on"), `MIGRATE_ON_START: "on" is not a boolean (want true or false)`},
		{with(minimal(), "COOKIE_DOMAIN", "https://example.com"), `COOKIE_DOMAIN: "https://example.com" is not a domain name (e.g. example.com; no scheme, port or path)`},
		{with(minimal(), "COOKIE_DOMAIN", "example.com:443"), `COOKIE_DOMAIN: "example.com:443" is not a domain name (e.g. example.com; no scheme, port or path)`},
		{with(minimal(), "DB_TIMEOUT", "50ms"), `DB_TIMEOUT: 50ms is out of range (want 100ms to 1m)`},
		{with(minimal(), "DB_MAX_CONNS", "0"), `DB_MAX_CONNS: "0" is out of range (want 1 to 1000)`},
		{with(minimal(), "REQUEST_TIMEOUT", "0s"), `REQUEST_TIMEOUT: 0s is out of range (want 1s to 10m)`},
		{with(minimal(), "SHUTDOWN_TIMEOUT", "11m"), `SHUTDOWN_TIMEOUT: 11m is out of range (want 1s to 10m)`},
		{with(minimal(), "LOG_LEVEL", "verbose"), `LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{with(minimal(), "LOG_FORMAT", "xml"), `LOG_FORMAT: "xml" is not one of json, text`},
		{with(minimal(), "HASH_CONCURRENCY", "0"), `HASH_CONCURRENCY: "0" is out of range (want 1 to 256)`},
		{with(minimal(), "HASH_QUEUE", "10001"), `HASH_QUEUE: "10001" is out of range (want 0 to 10000)`},
		{with(minimal(), "HASH_WAIT", "0s"), `HASH_WAIT: 0s is out of range (want 1ms to 1m)`},
		{with(minimal(), "HASH_NICE", "20"), `HASH_NICE: "20" is out of range (want 0 to 19)`},
		{with(minimal(), "PPROF", "true", "METRICS_ADDR", "main"), `PPROF: profiles are served only on a separate METRICS_ADDR listener (e.g. 127.0.0.1:9090), never on the main port`},
		{with(minimal(), "METRICS_ADDR", "9090"), `METRICS_ADDR: "9090" is not host:port (e.g. 127.0.0.1:9090 or :9090), main or off`},
		{with(minimal(), "METRICS_ADDR", "Main"), `METRICS_ADDR: "Main" is not host:port (e.g. 127.0.0.1:9090 or :9090), main or off`},
		{with(minimal(), "PPROF", "true", "METRICS_ADDR", "off"), `PPROF: profiles are served only on a separate METRICS_ADDR listener (e.g. 127.0.0.1:9090), never on the main port`},
		{with(minimal(), "PORT", "65536"), `PORT: "65536" is out of range (want 0 to 65535)`},
		{with(minimal(), "PORT", "http"), `PORT: "http" is not an integer (want 0 to 65535)`},
		{with(minimal(), "LISTEN_HOST", "localhost:8000"), `LISTEN_HOST: "localhost:8000" is not a host name or IP address (no brackets or port, e.g. 127.0.0.1 or ::1)`},
		{with(minimal(), "LISTEN_HOST", "[::1]"), `LISTEN_HOST: "[::1]" is not a host name or IP address (no brackets or port, e.g. 127.0.0.1 or ::1)`},
		{with(minimal(), "POSTGRES_PORT", "0"), `POSTGRES_PORT: "0" is out of range (want 1 to 65535)`},
		{with(minimal(), "POSTGRES_HOST", "db host"), `POSTGRES_HOST: "db host" is not a host name, IP address or socket directory (e.g. 127.0.0.1)`},
		{with(minimal(), "POSTGRES_HOST", ""), `DATABASE_URL or POSTGRES_HOST must be set`},
		{with(minimal(), "DATABASE_URL", "mysql://root@localhost/db"), `DATABASE_URL: the value (not shown) is not a postgres:// or postgresql:// URL`},
		{with(minimal(), "MIGRATE_DATABASE_URL", "db:5432"), `MIGRATE_DATABASE_URL: the value (not shown) is not a postgres:// or postgresql:// URL`},
		{with(minimal(), "DB_STARTUP_WAIT", "2h"), `DB_STARTUP_WAIT: 2h is out of range (want 0s to 1h)`},
		{with(minimal(), "ACCESS_TOKEN_PRIVATE_KEY", ""), `ACCESS_TOKEN_PRIVATE_KEY: must be set (a base64-encoded PEM private key)`},
		{with(minimal(), "REFRESH_TOKEN_PRIVATE_KEY", " "), `REFRESH_TOKEN_PRIVATE_KEY: must be set (a base64-encoded PEM private key)`},
		{with(minimal(), "CLIENT_ORIGIN", "*"), `CLIENT_ORIGIN: "*" is a wildcard: list each origin exactly (want scheme://host[:port], e.g. https://app.example.com)`},
		{with(minimal(), "TRUSTED_PROXIES", "10.0.0.0/33"), `TRUSTED_PROXIES: "10.0.0.0/33" is not an IP address or CIDR prefix (e.g. 10.0.0.0/8 or 192.0.2.1)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Load(mapEnv(tt.env))
			if err == nil {
				t.Fatalf("Load: no error, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if !slices.Contains(lines, tt.want) {
				t.Errorf("Load error:\n%v\nwant the line\n%s", err, tt.want)
			}
			if len(lines) != 1 {
				t.Errorf("Load reported %d problems, want 1:\n%v", len(lines), err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	env := with(minimal(),
		"POSTGRES_HOST", "",
		"PORT", "80000",
		"CLIENT_ORIGIN", "http://localhost:3000/",
		"ACCESS_TOKEN_PRIVATE_KEY", "",
		"ACCESS_TOKEN_EXPIRED_IN", "15x",
		"REFRESH_TOKEN_MAXAGE", "60m",
		"REFRESH_REUSE_GRACE", "-1s",
		"TOKEN_LEEWAY", "1h",
		"BCRYPT_COST", "4",
		"COOKIE_SECURE", "maybe",
		"DB_MAX_CONNS", "lots",
		"LOG_LEVEL", "trace",
		"HASH_QUEUE", "-1",
		"TRUSTED_PROXIES", "10.0.0.1, not-an-ip",
	)
	wantPrefixes := []string{
		"DATABASE_URL or POSTGRES_HOST",
		"DB_MAX_CONNS:",
		"PORT:",
		"CLIENT_ORIGIN:",
		"TRUSTED_PROXIES:",
		"ACCESS_TOKEN_PRIVATE_KEY:",
		"ACCESS_TOKEN_EXPIRED_IN:",
		"REFRESH_TOKEN_MAXAGE:",
		"REFRESH_REUSE_GRACE:",
		"TOKEN_LEEWAY:",
		"COOKIE_SECURE:",
		"BCRYPT_COST:",
		"HASH_QUEUE:",
		"LOG_LEVEL:",
	}
	c, err := Load(mapEnv(env))
	if err == nil {
		t.Fatal("Load: no error")
	}
	if !reflect.DeepEqual(c, Config{}) {
		t.Errorf("Load returned a partial Config with its error: %s", c)
	}
	lines := strings.Split(err.Error(), "\n")
	var got []string
	for _, line := range lines {
		for _, p := range wantPrefixes {
			if strings.HasPrefix(line, p) {
				got = append(got, p)
			}
		}
	}
	// Problems come in the order of Variables, one line each.
	if !slices.Equal(got, wantPrefixes) || len(lines) != len(wantPrefixes) {
		t.Errorf("Load error lines:\n%v\nwant one line for each of, in order:\n%s", err, strings.Join(wantPrefixes, "\n"))
	}
	if strings.HasPrefix(strings.ToLower(err.Error()), "config") {
		t.Errorf("error starts with %q; main adds the prefix", err.Error()[:6])
	}
}

// Secret strings, distinct enough that finding one in output cannot be a coincidence.
const (
	secretPassword = "hunter2-PG-secret"
	secretInURL    = "hunter2-URL-secret"
	secretInQuery  = "hunter2-QUERY-secret"
	secretKey      = "S3CR3T-K3Y-material"
)

func secretEnv() map[string]string {
	return map[string]string{
		"POSTGRES_HOST":             "db",
		"POSTGRES_USER":             "app",
		"POSTGRES_PASSWORD":         secretPassword,
		"ACCESS_TOKEN_PRIVATE_KEY":  secretKey + "-access-private",
		"ACCESS_TOKEN_PUBLIC_KEY":   secretKey + "-access-public",
		"ACCESS_TOKEN_VERIFY_KEYS":  secretKey + "-access-verify1," + secretKey + "-access-verify2",
		"REFRESH_TOKEN_PRIVATE_KEY": secretKey + "-refresh-private",
		"REFRESH_TOKEN_PUBLIC_KEY":  secretKey + "-refresh-public",
		"REFRESH_TOKEN_VERIFY_KEYS": secretKey + "-refresh-verify",
		"SMTP_USER":                 "authd",
		"SMTP_PASS":                 secretPassword + "-smtp",
	}
}

var secrets = []string{secretPassword, secretInURL, secretInQuery, secretKey, "hunter2", "S3CR3T"}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the secret %q:\n%s", what, secret, s)
		}
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"everything else invalid", with(secretEnv(), "PORT", "x", "BCRYPT_COST", "x", "POSTGRES_PORT", "x")},
		{"DATABASE_URL wrong scheme", with(secretEnv(), "DATABASE_URL", "mysql://app:"+secretInURL+"@db/authd")},
		{"DATABASE_URL unparsable", with(secretEnv(), "DATABASE_URL", "postgres://app:"+secretInURL+"@db:port/authd")},
		{"DATABASE_URL bad escape", with(secretEnv(), "DATABASE_URL", "postgres://app:"+secretInURL+"%zz@db/authd")},
		{"DATABASE_URL opaque", with(secretEnv(), "DATABASE_URL", "postgres:"+secretInURL)},
		{"SMTP_PASS without SMTP_USER", with(secretEnv(), "SMTP_USER", "")},
		{"mail settings invalid", with(secretEnv(), "MAIL_TRANSPORT", "smtp", "SMTP_TLS", "none", "SMTP_HOST", "smtp.example.com")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mapEnv(tt.env))
			if err == nil {
				t.Fatal("Load: no error")
			}
			assertNoSecret(t, "Load error", err.Error())
		})
	}
}

func TestLogValueNeverShowsSecrets(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"POSTGRES_PASSWORD", secretEnv()},
		{"DATABASE_URL password", with(secretEnv(), "DATABASE_URL", "postgres://app:"+secretInURL+"@db/authd")},
		{"DATABASE_URL password query", with(secretEnv(),
			"DATABASE_URL", "postgres://app@db/authd?sslmode=require&password="+secretInQuery+"&sslpassword="+secretInQuery+"#"+secretInQuery)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env)
			var text, json bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("starting", "config", c)
			slog.New(slog.NewJSONHandler(&json, nil)).Info("starting", "config", &c)
			assertNoSecret(t, "text log", text.String())
			assertNoSecret(t, "JSON log", json.String())
			assertNoSecret(t, "%v", fmt.Sprintf("%v", c))
			assertNoSecret(t, "%+v", fmt.Sprintf("%+v", c))
			assertNoSecret(t, "%#v", fmt.Sprintf("%#v", c))
			assertNoSecret(t, "%s", fmt.Sprint(&c))
			for _, want := range []string{"config.access_private_key=[set]", "config.refresh_verify_keys=1", "postgres://app", "config.smtp_pass=[set]"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text log does not contain %q:\n%s", want, text.String())
				}
			}
		})
	}
}

func TestLogValue(t *testing.T) {
	c := mustLoad(t, with(secretEnv(),
		"DATABASE_URL", "postgres://app:"+secretInURL+"@db:5432/authd?sslmode=verify-full&password="+secretInQuery,
		"ACCESS_TOKEN_PUBLIC_KEY", "",
		"CLIENT_ORIGIN", "https://a.example.com,https://b.example.com",
		"TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.1",
		"LOG_LEVEL", "debug"))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", c)
	for _, want := range []string{
		"config.database_url=\"postgres://app:xxxxx@db:5432/authd?password=xxxxx&sslmode=verify-full\"",
		"config.listen_addr=:8000",
		"config.client_origins=https://a.example.com,https://b.example.com",
		"config.trusted_proxies=10.0.0.0/8,192.0.2.1/32",
		"config.access_private_key=[set]",
		"config.access_public_key=[unset]",
		"config.access_verify_keys=2",
		"config.access_ttl=15m",
		"config.refresh_ttl=1h",
		"config.session_lifetime=168h",
		"config.bcrypt_cost=12",
		"config.cookie_secure=true",
		"config.log_level=DEBUG",
		"config.log_format=json",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log does not contain %q:\n%s", want, buf.String())
		}
	}
	if got, want := redactDatabaseURL(""), "[unset]"; got != want {
		t.Errorf("redactDatabaseURL(\"\") = %q, want %q", got, want)
	}
	if got, want := redactDatabaseURL("host=db password="+secretInURL), "[redacted]"; got != want {
		t.Errorf("redactDatabaseURL(key=value DSN) = %q, want %q", got, want)
	}
}

func TestClientOrigins(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string // a substring of the problem
	}{
		{in: "", want: nil},
		{in: "http://localhost:3000", want: []string{"http://localhost:3000"}},
		{in: " https://app.example.com , http://localhost:3000,", want: []string{"https://app.example.com", "http://localhost:3000"}},
		{in: "HTTPS://App.Example.COM", want: []string{"https://app.example.com"}},
		{in: "https://example.com:443,http://example.com:80", want: []string{"https://example.com", "http://example.com"}},
		{in: "http://example.com:8080", want: []string{"http://example.com:8080"}},
		{in: "http://[::1]:3000,http://127.0.0.1:3000", want: []string{"http://[::1]:3000", "http://127.0.0.1:3000"}},
		{in: "http://a.example.com,http://A.example.com", want: []string{"http://a.example.com"}},
		{in: "*", wantErr: `"*" is a wildcard`},
		{in: "https://*.example.com", wantErr: "is a wildcard"},
		{in: "http://localhost:3000/", wantErr: "must not end with a slash"},
		{in: "http://localhost:3000/app", wantErr: "must not have a path"},
		{in: "https://example.com?x=1", wantErr: "must not have a query"},
		{in: "https://example.com#top", wantErr: "must not have a fragment"},
		{in: "https://user@example.com", wantErr: "must not contain user info"},
		{in: "ftp://example.com", wantErr: "must use http or https"},
		{in: "localhost:3000", wantErr: "is not an origin"},
		{in: "example.com", wantErr: "is not an origin"},
		{in: "null", wantErr: "is not an origin"},
		{in: "https://example.com:99999", wantErr: "does not have a valid port"},
		{in: "https://example.com:", wantErr: "has an empty port"},
		{in: "https://exa_mple..com", wantErr: "does not have a valid host name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := Load(mapEnv(with(minimal(), "CLIENT_ORIGIN", tt.in)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "CLIENT_ORIGIN: ") {
					t.Errorf("Load error = %v, want CLIENT_ORIGIN: ...%s...", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.Equal(c.ClientOrigins, tt.want) {
				t.Errorf("ClientOrigins = %q, want %q", c.ClientOrigins, tt.want)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		in      string
		want    []netip.Prefix
		wantErr string
	}{
		{in: "", want: nil},
		{in: "10.0.0.0/8", want: []netip.Prefix{p("10.0.0.0/8")}},
		{in: "192.0.2.1", want: []netip.Prefix{p("192.0.2.1/32")}},
		{in: "::1, 2001:db8::/32 ,", want: []netip.Prefix{p("::1/128"), p("2001:db8::/32")}},
		{in: "10.1.2.3/8", want: []netip.Prefix{p("10.0.0.0/8")}},
		{in: "::ffff:10.0.0.1", want: []netip.Prefix{p("10.0.0.1/32")}},
		{in: "::ffff:10.0.0.0/104", want: []netip.Prefix{p("10.0.0.0/8")}},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33" is not an IP address or CIDR prefix`},
		{in: "proxy.internal", wantErr: `"proxy.internal" is not an IP address or CIDR prefix`},
		{in: "fe80::1%eth0", wantErr: "is not an IP address or CIDR prefix"},
		{in: "0.0.0.0/0", wantErr: `"0.0.0.0/0" trusts every address`},
		{in: "::/0", wantErr: "trusts every address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := Load(mapEnv(with(minimal(), "TRUSTED_PROXIES", tt.in)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "TRUSTED_PROXIES: ") {
					t.Errorf("Load error = %v, want TRUSTED_PROXIES: ...%s...", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.Equal(c.TrustedProxies, tt.want) {
				t.Errorf("TrustedProxies = %v, want %v", c.TrustedProxies, tt.want)
			}
		})
	}
}

// recordingEnv returns a getenv over env that records every name requested.
func recordingEnv(env map[string]string, names map[string]bool) func(string) string {
	return func(name string) string {
		names[name] = true
		return env[name]
	}
}

// TestVariablesCoverLoad fails when Load reads a variable that Variables does not document,
// or Variables documents one that Load never reads.
func TestVariablesCoverLoad(t *testing.T) {
	read := make(map[string]bool)
	for _, env := range []map[string]string{
		minimal(),
		with(minimal(), "DATABASE_URL", "postgres://db/authd"),
		with(minimal(), "POSTGRES_HOST", "/run/postgresql"),
		with(minimal(), "POSTGRES_HOST", ""),
		{},
	} {
		Load(recordingEnv(env, read))
	}
	documented := make(map[string]bool)
	secret := make(map[string]bool)
	for _, v := range Variables() {
		documented[v.Name] = true
		secret[v.Name] = v.Secret
	}
	for name := range read {
		if base, ok := strings.CutSuffix(name, FileSuffix); ok && secret[base] {
			continue // a secret's file (secretfile.go)
		}
		if !documented[name] {
			t.Errorf("Load reads %s, which Variables does not list", name)
		}
	}
	for name := range documented {
		if !read[name] {
			t.Errorf("Variables lists %s, which Load never reads", name)
		}
	}
}

func TestVariablesWellFormed(t *testing.T) {
	seen := make(map[string]bool)
	for _, v := range Variables() {
		if seen[v.Name] {
			t.Errorf("%s listed twice", v.Name)
		}
		seen[v.Name] = true
		if !isEnvName(v.Name) || strings.ToUpper(v.Name) != v.Name {
			t.Errorf("%q is not an upper-case variable name", v.Name)
		}
		if v.Description == "" || strings.Contains(v.Description, "\n") {
			t.Errorf("%s: description %q is not one line", v.Name, v.Description)
		}
		wantSecret := strings.HasSuffix(v.Name, "DATABASE_URL") || strings.HasSuffix(v.Name, "_PASSWORD") || strings.HasSuffix(v.Name, "_PASS") || strings.Contains(v.Name, "_KEY") ||
			v.Name == "SMTP_USER" // half of a credential, read from a file like the other half
		if v.Secret != wantSecret {
			t.Errorf("%s: Secret = %v, want %v", v.Name, v.Secret, wantSecret)
		}
		if v.Secret && v.Default != "" {
			t.Errorf("%s: a secret has a default", v.Name)
		}
	}
}

// TestVariablesDefaults checks that each documented literal default is what Load applies:
// setting a variable to its default changes nothing.
func TestVariablesDefaults(t *testing.T) {
	want := mustLoad(t, minimal())
	for _, v := range Variables() {
		if v.Default == "" || strings.HasPrefix(v.Default, "(") {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			got := mustLoad(t, with(minimal(), v.Name, v.Default))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("with %s=%s:\n got %s\nwant %s", v.Name, v.Default, fields(got), fields(want))
			}
		})
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration table honest.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables() {
		if !strings.Contains(string(b), "| `"+v.Name+"` |") {
			t.Errorf("README's configuration table has no row for %s", v.Name)
		}
	}
}

// TestMFASettings: the issuer defaults to EMAIL_FROM_NAME, and an MFA key
// that is a JWT key is refused.
func TestMFASettings(t *testing.T) {
	env := with(minimal(), "EMAIL_FROM_NAME", "Acme")
	c, err := Load(mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.MFAIssuer != "Acme" || c.MFAEncryptionKeys != "" {
		t.Errorf("issuer %q keys %q", c.MFAIssuer, c.MFAEncryptionKeys)
	}
	env["MFA_ENCRYPTION_KEYS"] = "k1:" + env["ACCESS_TOKEN_PRIVATE_KEY"]
	if _, err := Load(mapEnv(env)); err == nil || !strings.Contains(err.Error(), "MFA_ENCRYPTION_KEYS") {
		t.Errorf("a JWT key as MFA key: %v", err)
	}
	env["MFA_ENCRYPTION_KEYS"] = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	c, err = Load(mapEnv(env))
	if err != nil || c.MFAEncryptionKeys == "" {
		t.Errorf("a good key: %v", err)
	}
	if strings.Contains(fmt.Sprint(c.LogValue()), "AAAAAAAA") {
		t.Error("the key is logged")
	}
}
