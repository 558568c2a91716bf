package main

import "testing"

// TestUserCommandsPasswordPolicy: PASSWORD_BLOCKLIST and
// PASSWORD_MIN_LENGTH reach the operator's create and set-password (they
// share sessionOptions with serve).
func TestUserCommandsPasswordPolicy(t *testing.T) {
	t.Parallel()
	c := newCLI(t, func(env map[string]string) {
		env["PASSWORD_BLOCKLIST"] = "true"
		env["PASSWORD_MIN_LENGTH"] = "12"
	})
	c.refused("password is too common", "QWERTY123456\n", "user", "create", "ada@example.com")
	c.refused("at least 12 bytes", "elevenbytes\n", "user", "create", "ada@example.com")
	c.ok("a fine long password\n", "user", "create", "ada@example.com")
	c.refused("password is too common", "1qaz2wsx3edc\n", "user", "set-password", "ada@example.com")
	c.ok("another fine password\n", "user", "set-password", "ada@example.com")
}
