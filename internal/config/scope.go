package config

import (
	"errors"
	"slices"
)

// migrateSettings are the variables that authd migrate reads: the database's, and
// ADOPT_TRUST_VERIFIED for the adoption of a tutorial database. The rows that are part of
// DATABASE_URL (POSTGRES_*) are read by its reader.
var migrateSettings = []string{"DATABASE_URL", "MIGRATE_DATABASE_URL", "ADOPT_TRUST_VERIFIED"}

// LoadMigrate is Load for authd migrate, which needs only the database: it reads and checks
// only DATABASE_URL (or the POSTGRES_* variables), MIGRATE_DATABASE_URL and
// ADOPT_TRUST_VERIFIED, each also from NAME_FILE where secret, and ignores every other
// variable, so that a migration Job needs neither the signing keys nor the mail settings.
// The other fields of the Config it returns hold their zero values.
func LoadMigrate(getenv func(string) string) (Config, error) {
	return loadOnly(getenv, migrateSettings)
}

// loadOnly reads the rows named in names and nothing else; the rules between settings
// (derive) are those of the whole service and are not applied.
func loadOnly(getenv func(string) string, names []string) (Config, error) {
	var c Config
	rows := settings(&c)
	l := newLoader(getenv, rows)
	for _, s := range rows {
		if s.to != nil && slices.Contains(names, s.name) {
			s.to.load(l, s.name)
		}
	}
	if err := errors.Join(l.problems...); err != nil {
		return Config{}, err
	}
	return c, nil
}
