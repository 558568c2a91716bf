// Package schema embeds the database migrations. The same files feed sqlc
// (sqlc.yaml) and the migrator built into authd (internal/db).
package schema

import "embed"

// FS holds the golang-migrate pairs NNNNNN_name.up.sql / .down.sql.
//
//go:embed *.sql
var FS embed.FS

// Version is the schema version this build expects; readiness checks it.
const Version = 11
