package config

// Variable documents one environment variable that Load reads.
//
// Default is the literal value Load uses when the variable is unset or empty. A default in
// parentheses, such as "(number of CPUs)", describes a value computed at load time, and an empty
// Default means there is none. Secret variables are never echoed in errors or logs.
type Variable struct {
	Name        string
	Default     string
	Description string
	Secret      bool
}

// Variables lists every variable Load reads, in the order of the README's configuration table.
// The defaults listed here are the ones Load applies.
func Variables() []Variable {
	return []Variable{
		// Database.
		{Name: "DATABASE_URL", Secret: true, Description: "PostgreSQL URL (postgres://user:password@host:port/db?sslmode=...); when set, the POSTGRES_* variables are ignored"},
		{Name: "POSTGRES_HOST", Description: "PostgreSQL host name or IP address, or a Unix socket directory starting with /; required unless DATABASE_URL is set"},
		{Name: "POSTGRES_PORT", Default: "5432", Description: "PostgreSQL port, 1 to 65535"},
		{Name: "POSTGRES_USER", Description: "PostgreSQL user name"},
		{Name: "POSTGRES_PASSWORD", Secret: true, Description: "PostgreSQL password"},
		{Name: "POSTGRES_DB", Description: "PostgreSQL database name"},
		{Name: "DB_TIMEOUT", Default: "3s", Description: "timeout of each database query, 100ms to 60s"},
		{Name: "DB_MAX_CONNS", Default: "16", Description: "maximum open database connections, 1 to 1000"},
		{Name: "MIGRATE_ON_START", Default: "true", Description: "apply pending database migrations when the server starts (true or false)"},

		// HTTP server.
		{Name: "LISTEN_HOST", Description: "address to listen on (host name or IP); empty means every interface"},
		{Name: "PORT", Default: "8000", Description: "TCP port to listen on, 0 to 65535 (0 picks a free port)"},
		{Name: "CLIENT_ORIGIN", Description: "comma-separated browser origins allowed by CORS, exactly scheme://host[:port] (no path, no *)"},
		{Name: "TRUSTED_PROXIES", Description: "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is trusted; empty trusts none"},
		{Name: "REQUEST_TIMEOUT", Default: "10s", Description: "deadline of each request, 1s to 10m"},
		{Name: "SHUTDOWN_TIMEOUT", Default: "20s", Description: "how long in-flight requests may drain on shutdown, 1s to 10m"},
		{Name: "SHUTDOWN_DELAY", Default: "0s", Description: "on SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes (for load balancers), 0 to 5m"},
		{Name: "PPROF", Default: "false", Description: "serve Go's /debug/pprof/ profiles on the METRICS_ADDR listener (which must be set); keep that address private"},
		{Name: "METRICS_ADDR", Default: "", Description: "where to serve /metrics (Prometheus): empty serves it on the main port, host:port on a separate listener (e.g. :9090, not public), off turns it off"},

		// Tokens and sessions.
		{Name: "ACCESS_TOKEN_PRIVATE_KEY", Secret: true, Description: "base64-encoded PEM private key that signs access tokens; required"},
		{Name: "ACCESS_TOKEN_PUBLIC_KEY", Secret: true, Description: "base64-encoded PEM public key of ACCESS_TOKEN_PRIVATE_KEY; optional, derived from the private key"},
		{Name: "ACCESS_TOKEN_VERIFY_KEYS", Secret: true, Description: "comma-separated base64-encoded PEM public keys that still verify access tokens (key rotation)"},
		{Name: "ACCESS_TOKEN_EXPIRED_IN", Default: "15m", Description: "access token lifetime (Go duration), 10s to 24h"},
		{Name: "ACCESS_TOKEN_MAXAGE", Default: "(ACCESS_TOKEN_EXPIRED_IN)", Description: "access_token and logged_in cookie Max-Age in whole minutes, 1 to 525600"},
		{Name: "REFRESH_TOKEN_PRIVATE_KEY", Secret: true, Description: "base64-encoded PEM private key that signs refresh tokens; required, different from the access key"},
		{Name: "REFRESH_TOKEN_PUBLIC_KEY", Secret: true, Description: "base64-encoded PEM public key of REFRESH_TOKEN_PRIVATE_KEY; optional, derived from the private key"},
		{Name: "REFRESH_TOKEN_VERIFY_KEYS", Secret: true, Description: "comma-separated base64-encoded PEM public keys that still verify refresh tokens (key rotation)"},
		{Name: "REFRESH_TOKEN_EXPIRED_IN", Default: "60m", Description: "refresh token lifetime and session idle timeout (Go duration), longer than ACCESS_TOKEN_EXPIRED_IN"},
		{Name: "REFRESH_TOKEN_MAXAGE", Default: "(REFRESH_TOKEN_EXPIRED_IN)", Description: "refresh_token cookie Max-Age in whole minutes, 1 to 525600"},
		{Name: "SESSION_MAX_LIFETIME", Default: "168h", Description: "absolute session lifetime that refreshing cannot extend (Go duration), at least REFRESH_TOKEN_EXPIRED_IN"},
		{Name: "REFRESH_REUSE_GRACE", Default: "10s", Description: "how long an already rotated refresh token still returns its successor, 0 to 1m"},
		{Name: "TOKEN_ISSUER", Default: "authd", Description: "iss claim of issued tokens, required in verified tokens"},
		{Name: "TOKEN_AUDIENCE", Default: "authd", Description: "aud claim of issued tokens, required in verified tokens"},
		{Name: "TOKEN_LEEWAY", Default: "5s", Description: "clock skew allowed when checking exp, nbf and iat, 0 to 30s"},

		// Cookies.
		{Name: "COOKIE_SECURE", Default: "true", Description: "set the Secure attribute on cookies; turn off only for local http development"},
		{Name: "COOKIE_DOMAIN", Description: "Domain attribute of cookies; empty sends none (host-only cookies)"},

		// Passwords.
		{Name: "BCRYPT_COST", Default: "12", Description: "bcrypt cost of new password hashes, 10 to 16"},
		{Name: "HASH_CONCURRENCY", Default: "(GOMAXPROCS: usable CPUs, at most 256)", Description: "password hashes computed at once, 1 to 256"},
		{Name: "HASH_QUEUE", Default: "64", Description: "requests allowed to wait for a hashing slot before 503, 0 to 10000"},
		{Name: "HASH_WAIT", Default: "2s", Description: "longest wait for a hashing slot before 503, 1ms to 1m"},
		{Name: "HASH_NICE", Default: "10", Description: "Linux nice value of the threads that compute hashes, 0 to 19: other requests get the CPU first; 0 hashes at normal priority"},

		// Throttling.
		{Name: "LOGIN_FAILURE_THRESHOLD", Default: "5", Description: "consecutive failed logins for one email before it is locked, 1 to 100"},
		{Name: "LOGIN_LOCK_BASE", Default: "1s", Description: "first lock after the threshold; doubles with each further failure, 100ms to 1h"},
		{Name: "LOGIN_LOCK_MAX", Default: "15m", Description: "longest lock of one email (never permanent), 1s to 24h"},
		{Name: "IP_LOGIN_PER_MINUTE", Default: "30", Description: "logins per minute per client address after the burst; 0 turns the limit off"},
		{Name: "IP_LOGIN_BURST", Default: "10", Description: "logins a client address may send at once; 0 turns the limit off"},
		{Name: "IP_REGISTER_PER_MINUTE", Default: "10", Description: "registrations per minute per client address after the burst; 0 turns the limit off"},
		{Name: "IP_REGISTER_BURST", Default: "5", Description: "registrations a client address may send at once; 0 turns the limit off"},
		{Name: "IP_REFRESH_PER_MINUTE", Default: "120", Description: "refreshes per minute per client address after the burst; 0 turns the limit off"},
		{Name: "IP_REFRESH_BURST", Default: "30", Description: "refreshes a client address may send at once; 0 turns the limit off"},

		// Logging.
		{Name: "LOG_LEVEL", Default: "info", Description: "minimum log level: debug, info, warn or error"},
		{Name: "LOG_FORMAT", Default: "json", Description: "log format: json or text"},
	}
}
