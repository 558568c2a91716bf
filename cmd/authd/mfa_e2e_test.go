package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

// TestREADMEMFAWalkthrough runs the README's two-factor walkthroughs
// against the real binary, with oathtool as the authenticator app: an
// implementation of RFC 6238 that is not authd's.
func TestREADMEMFAWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		testenv.Missing(t, "oathtool is not installed")
	}
	bin := buildBinary(t)
	p := start(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t)))
	for _, tool := range []string{"curl", "httpie"} {
		t.Run(tool, func(t *testing.T) {
			name := map[string]string{"curl": "curl", "httpie": "http"}[tool]
			if _, err := exec.LookPath(name); err != nil {
				testenv.Missing(t, name+" is not installed")
			}
			script, want := walkthrough(t, "mfa-"+tool)
			got := runWalkthrough(t, tool, script, p.base)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("statuses = %v, want %v", got, want)
			}
		})
	}
}
