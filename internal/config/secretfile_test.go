package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// everySecret returns a valid environment that sets every secret variable.
func everySecret() map[string]string {
	return with(minimal(),
		"DATABASE_URL", "postgres://app:"+secretInURL+"@db:5432/authd?sslmode=require",
		"POSTGRES_PASSWORD", secretPassword,
		"MIGRATE_DATABASE_URL", "postgres://owner:"+secretInURL+"@db:5432/authd",
		"ACCESS_TOKEN_PUBLIC_KEY", accessPublic,
		"ACCESS_TOKEN_VERIFY_KEYS", secretKey+"-access-verify1,"+secretKey+"-access-verify2",
		"REFRESH_TOKEN_PUBLIC_KEY", refreshPublic,
		"REFRESH_TOKEN_VERIFY_KEYS", secretKey+"-refresh-verify",
		"REFRESH_TOKEN_RETIRED_KEYS", secretKey+"-refresh-retired",
		"SMTP_USER", "authd@example.com",
		"SMTP_PASS", " "+secretPassword+"-smtp ", // spaces are part of a password
		"MFA_ENCRYPTION_KEYS", "k1:"+strings.Repeat("A", 43)+"=",
	)
}

// writeFile writes content to a new file in a test directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretsFromFiles: every secret variable can be given as NAME_FILE instead, and Load
// then reads the same Config as from the variable itself, the file's one trailing newline
// (\n or \r\n) removed and nothing else.
func TestSecretsFromFiles(t *testing.T) {
	base := everySecret()
	want := mustLoad(t, base)
	n := 0
	for _, v := range Variables() {
		if !v.Secret {
			continue
		}
		n++
		value, ok := base[v.Name]
		if !ok {
			t.Errorf("%s is secret but everySecret does not set it: add it, so that %s%s is tested", v.Name, v.Name, FileSuffix)
			continue
		}
		for _, ending := range []string{"", "\n", "\r\n"} {
			t.Run(v.Name+"/"+strings.ReplaceAll(strings.ReplaceAll(ending, "\r", `\r`), "\n", `\n`), func(t *testing.T) {
				env := with(base, v.Name, "", v.Name+FileSuffix, writeFile(t, value+ending))
				if got := mustLoad(t, env); !reflect.DeepEqual(got, want) {
					t.Errorf("from %s%s:\n got %s\nwant %s", v.Name, FileSuffix, fields(got), fields(want))
				}
			})
		}
	}
	if n < 12 {
		t.Errorf("only %d secret variables; DATABASE_URL, the keys, SMTP_USER, SMTP_PASS and MFA_ENCRYPTION_KEYS at least are", n)
	}

	// Only one newline goes: a second one is the value's, and a value that then fails its
	// check is refused like the variable would be.
	c := mustLoad(t, with(base, "SMTP_PASS", "", "SMTP_PASS_FILE", writeFile(t, "pw\n\n")))
	if c.SMTPPass != "pw\n" {
		t.Errorf("SMTPPass from \"pw\\n\\n\" = %q, want %q", c.SMTPPass, "pw\n")
	}
	// A variable that is not secret has no _FILE form.
	c = mustLoad(t, with(base, "PORT_FILE", writeFile(t, "9999")))
	if c.ListenAddr != ":8000" {
		t.Errorf("PORT_FILE was read: ListenAddr %q", c.ListenAddr)
	}
}

// TestSecretFileProblems: both forms set, a file that cannot be read and an empty one are
// refused with a message naming the variable and the path, never the contents.
func TestSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	big := writeFile(t, strings.Repeat(secretKey, maxSecretFile/len(secretKey)+1))
	tests := []struct {
		name string
		env  map[string]string
		want []string // in the error
	}{
		{"both set", with(everySecret(), "SMTP_PASS_FILE", writeFile(t, secretPassword)),
			[]string{"SMTP_PASS: both SMTP_PASS and SMTP_PASS_FILE are set: set only one"}},
		{"missing file", with(everySecret(), "DATABASE_URL", "", "DATABASE_URL_FILE", missing),
			[]string{"DATABASE_URL_FILE: cannot read " + missing + ": no such file or directory"}},
		{"directory", with(everySecret(), "REFRESH_TOKEN_PRIVATE_KEY", "", "REFRESH_TOKEN_PRIVATE_KEY_FILE", dir),
			[]string{"REFRESH_TOKEN_PRIVATE_KEY_FILE: cannot read " + dir + ": is a directory"}},
		{"empty file", with(everySecret(), "MFA_ENCRYPTION_KEYS", "", "MFA_ENCRYPTION_KEYS_FILE", writeFile(t, "\n")),
			[]string{"MFA_ENCRYPTION_KEYS_FILE: "}, // "... is empty"
		},
		{"too large", with(everySecret(), "ACCESS_TOKEN_VERIFY_KEYS", "", "ACCESS_TOKEN_VERIFY_KEYS_FILE", big),
			[]string{"ACCESS_TOKEN_VERIFY_KEYS_FILE: cannot read " + big + ": larger than"}},
		{"invalid contents", with(everySecret(), "DATABASE_URL", "", "DATABASE_URL_FILE", writeFile(t, "mysql://app:"+secretInURL+"@db/authd\n")),
			[]string{"DATABASE_URL: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mapEnv(tt.env))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			assertNoSecret(t, "the error", err.Error())
		})
	}
}

// TestLoadMigrate: authd migrate needs only the database settings. Without keys or mail
// settings, and with every other setting invalid, it loads; a database setting's problem is
// still refused, and DATABASE_URL_FILE works as for serve.
func TestLoadMigrate(t *testing.T) {
	for _, name := range migrateSettings {
		if !slices.ContainsFunc(Variables(), func(v Variable) bool { return v.Name == name }) {
			t.Errorf("migrateSettings names %s, which is no row of the settings table", name)
		}
	}
	const url = "postgres://app@db:5432/authd"
	junk := map[string]string{"PORT": "x", "MAIL_TRANSPORT": "smtp", "LOG_LEVEL": "loud", "REFRESH_TOKEN_EXPIRED_IN": "1s"}

	c, err := LoadMigrate(mapEnv(with(junk, "DATABASE_URL", url)))
	if err != nil {
		t.Fatalf("LoadMigrate with DATABASE_URL only: %v", err)
	}
	if c.DatabaseURL != url || c.MigrateDatabaseURL != "" || c.AdoptTrustVerified {
		t.Errorf("LoadMigrate: %s", fields(c))
	}
	if _, err := Load(mapEnv(with(junk, "DATABASE_URL", url))); err == nil {
		t.Error("Load accepted the same environment: the test proves nothing")
	}

	c, err = LoadMigrate(mapEnv(map[string]string{"DATABASE_URL_FILE": writeFile(t, url+"\n"), "ADOPT_TRUST_VERIFIED": "true"}))
	if err != nil || c.DatabaseURL != url || !c.AdoptTrustVerified {
		t.Errorf("LoadMigrate from DATABASE_URL_FILE: %v, %s", err, fields(c))
	}
	c, err = LoadMigrate(mapEnv(map[string]string{"POSTGRES_HOST": "db", "POSTGRES_DB": "authd"}))
	if err != nil || c.DatabaseURL != "postgres://db:5432/authd" {
		t.Errorf("LoadMigrate from POSTGRES_*: %v, %q", err, c.DatabaseURL)
	}

	for name, env := range map[string]map[string]string{
		"DATABASE_URL or POSTGRES_HOST must be set": maps.Clone(junk),
		"ADOPT_TRUST_VERIFIED":                      {"DATABASE_URL": url, "ADOPT_TRUST_VERIFIED": "maybe"},
		"MIGRATE_DATABASE_URL":                      {"DATABASE_URL": url, "MIGRATE_DATABASE_URL": "mysql://x"},
	} {
		if _, err := LoadMigrate(mapEnv(env)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("LoadMigrate(%v) = %v, want an error about %s", env, err, name)
		}
	}
}
