package config

import (
	"log/slog"
	"net/url"
)

// LogValue implements slog.LogValuer: one attribute per row of the settings table, shown as
// the row's field says. Keys are shown only as "[set]" or "[unset]" (verification keys as a
// count) and the database URLs with their password and unknown query values replaced; a secret
// whose field does not redact is not shown at all.
func (c Config) LogValue() slog.Value {
	rows := settings(&c)
	attrs := make([]slog.Attr, 0, len(rows))
	for _, s := range rows {
		if s.to != nil {
			attrs = append(attrs, slog.Attr{Key: s.logKey(), Value: s.to.logValue(s.secret)})
		}
	}
	return slog.GroupValue(attrs...)
}

// String returns the redacted form of LogValue, so that printing a Config with fmt's %v or %+v
// cannot leak a secret.
func (c Config) String() string {
	return c.LogValue().String()
}

// GoString is String for fmt's %#v.
func (c Config) GoString() string {
	return "config.Config" + c.String()
}

// isSafeQueryParam reports whether a database URL parameter is shown in logs; the values of all
// others (password, sslpassword, anything unknown) are replaced.
func isSafeQueryParam(name string) bool {
	switch name {
	case "host", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert", "sslkey",
		"application_name", "connect_timeout", "target_session_attrs", "search_path",
		"pool_max_conns", "pool_min_conns", "pool_max_conn_lifetime", "pool_max_conn_idle_time",
		"pool_health_check_period", "statement_cache_capacity", "default_query_exec_mode":
		return true
	}
	return false
}

// redactDatabaseURL replaces the password, fragment and the values of unknown query
// parameters. Anything that is not a plain postgres URL is hidden entirely.
func redactDatabaseURL(s string) string {
	if s == "" {
		return "[unset]"
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "[redacted]"
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q := u.Query() // malformed pairs are dropped, never shown
		for name := range q {
			if !isSafeQueryParam(name) {
				q[name] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
