package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty file", "", map[string]string{}},
		{"comments and blank lines", "# comment\n\n   \n  # indented comment\nA=1\n#B=2\n", map[string]string{"A": "1"}},
		{"no final newline", "A=1\nB=2", map[string]string{"A": "1", "B": "2"}},
		{"CRLF", "A=1\r\nB=two words\r\n", map[string]string{"A": "1", "B": "two words"}},
		{"byte order mark", "\uFEFFA=1\n", map[string]string{"A": "1"}},
		{"export prefix", "export A=1\nexport\tB=2\n  export   C = 3\nexportD=4\nexport=5\n",
			map[string]string{"A": "1", "B": "2", "C": "3", "exportD": "4", "export": "5"}},
		{"white space trimmed", "  A  =  spaced value  \t\n", map[string]string{"A": "spaced value"}},
		{"equals in value", "KEY=YWJj==\nB=a=b\n", map[string]string{"KEY": "YWJj==", "B": "a=b"}},
		{"empty values", "A=\nB=\"\"\nC=''\n", map[string]string{"A": "", "B": "", "C": ""}},
		{"double quotes", `A="hello world"` + "\n" + `B=" padded "` + "\n",
			map[string]string{"A": "hello world", "B": " padded "}},
		{"double-quote escapes", `A="line1\nline2"` + "\n" + `B="say \"hi\""` + "\n" + `C="back\\slash \t"` + "\n",
			map[string]string{"A": "line1\nline2", "B": `say "hi"`, "C": `back\slash \t`}},
		{"single quotes are literal", `A='no \n "escape"'` + "\n", map[string]string{"A": `no \n "escape"`}},
		{"quoted # is not a comment", `A="x # y"` + "\n" + `B='#z'` + "\n", map[string]string{"A": "x # y", "B": "#z"}},
		{"inline comments", "A=value # comment\nB=abc#def\nC=\"q\" # comment\nD='s'#c\nE=#notcomment\n",
			map[string]string{"A": "value", "B": "abc#def", "C": "q", "D": "s", "E": "#notcomment"}},
		{"no expansion", "HOME_COPY=$HOME\nB=\"${HOME}\"\n", map[string]string{"HOME_COPY": "$HOME", "B": "${HOME}"}},
		{"later line wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
		{"key characters", "_A=1\na_b_9=2\n", map[string]string{"_A": "1", "a_b_9": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseEnvFile: %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseEnvFile(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEnvFileErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct {
		name string
		in   string
		want string // the whole error
	}{
		{"no equals", "A=1\nthis has no equals " + secret + "\n", "line 2: expected KEY=VALUE"},
		{"export without assignment", "export " + secret + "\n", "line 1: expected KEY=VALUE"},
		{"key starts with a digit", "\n\n1A=" + secret, "line 3: invalid variable name (want letters, digits and _, not starting with a digit)"},
		{"key with a dash", "MY-KEY=" + secret, "line 1: invalid variable name (want letters, digits and _, not starting with a digit)"},
		{"empty key", "=" + secret, "line 1: invalid variable name (want letters, digits and _, not starting with a digit)"},
		{"value mistaken for a key", secret + "==", "line 1: invalid variable name (want letters, digits and _, not starting with a digit)"},
		{"unterminated double quote", `A="` + secret, "line 1: A: unterminated double quote"},
		{"escaped closing quote", `A="` + secret + `\"`, "line 1: A: unterminated double quote"},
		{"unterminated single quote", `A='` + secret, "line 1: A: unterminated single quote"},
		{"text after the closing quote", `A="x" ` + secret, "line 1: A: unexpected text after the closing quote"},
		{"every bad line", "A\nB=1\nC " + secret + "\n", "line 1: expected KEY=VALUE\nline 3: expected KEY=VALUE"},
		{"line too long", "A=1\nB=" + strings.Repeat("s3cr3t", maxEnvLine/6+1), "line 2: longer than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseEnvFile = %q, want error %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseEnvFile error = %q, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error echoes the value: %q", err)
			}
			if got != nil {
				t.Errorf("ParseEnvFile returned values with its error: %q", got)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	env := map[string]string{"BOTH": "env", "ENV_ONLY": "env", "EMPTY_ENV": ""}
	file := map[string]string{"BOTH": "file", "FILE_ONLY": "file", "EMPTY_ENV": "file"}
	lookupEnv := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	getenv := Lookup(lookupEnv, file)
	tests := []struct {
		name, want string
	}{
		{"BOTH", "env"},
		{"ENV_ONLY", "env"},
		{"FILE_ONLY", "file"},
		{"EMPTY_ENV", "file"}, // empty counts as unset, as in Load
		{"NEITHER", ""},
	}
	for _, tt := range tests {
		if got := getenv(tt.name); got != tt.want {
			t.Errorf("getenv(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Lookup(lookupEnv, nil)("FILE_ONLY"); got != "" {
		t.Errorf("with no file, getenv(FILE_ONLY) = %q, want \"\"", got)
	}
}

func TestLookupEnvironmentWinsOverFile(t *testing.T) {
	file, err := ParseEnvFile(strings.NewReader(tutorialAppEnv))
	if err != nil {
		t.Fatalf("ParseEnvFile: %v", err)
	}
	env := map[string]string{"PORT": "9000", "DATABASE_URL": "postgres://prod@db/authd", "ACCESS_TOKEN_EXPIRED_IN": "5m"}
	c, err := Load(Lookup(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}, file))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"ListenAddr", c.ListenAddr, ":9000"},
		{"DatabaseURL", c.DatabaseURL, "postgres://prod@db/authd"},
		{"AccessTTL", c.AccessTTL, 5 * time.Minute},
		{"AccessMaxAge (from the file)", c.AccessMaxAge, 15 * time.Minute},
		{"RefreshTTL (from the file)", c.RefreshTTL, 60 * time.Minute},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
