package main

import "testing"

func TestSSHClient(t *testing.T) {
	for _, tt := range []struct{ env, want string }{
		{"", ""},
		{"192.0.2.7 51234 22", "192.0.2.7"},
		{"2001:db8::1 51234 22", "2001:db8::1"},
		{"::ffff:192.0.2.7 51234 22", "192.0.2.7"},
		{"not-an-address 1 2", ""},
	} {
		got := sshClient(func(k string) (string, bool) {
			if k == "SSH_CLIENT" && tt.env != "" {
				return tt.env, true
			}
			return "", false
		})
		if got != tt.want {
			t.Errorf("SSH_CLIENT %q: %q, want %q", tt.env, got, tt.want)
		}
	}
}
