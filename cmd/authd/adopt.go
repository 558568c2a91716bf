package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

// adoption is how authd adopts the tutorial's database: each user as
// checkTutorialUser leaves it, verified only with ADOPT_TRUST_VERIFIED.
func adoption(cfg config.Config, report func(db.AdoptReport)) db.Adoption {
	return db.Adoption{Check: checkTutorialUser, TrustVerified: cfg.AdoptTrustVerified, Report: report}
}

// Problems checkTutorialUser reports, and what the import does about them.
const (
	badEmail    = "email refused by authd's rules: imported unverified, whatever ADOPT_TRUST_VERIFIED says; no reset or verification mail can be asked for it"
	badName     = "name refused by authd's rules: imported without control characters, cut to 100 characters"
	badPhoto    = "photo refused by authd's rules: imported empty"
	badPassword = "password is no bcrypt hash: imported without one; the user sets one with forgot password, or the operator with authd user set-password"
)

// checkTutorialUser applies authd's account rules (internal/session) to a
// user of the tutorial's database: what they refuse is cleaned where it
// can be (name, photo, a password that is no hash) and kept unverified
// where it cannot (the address).
func checkTutorialUser(u db.TutorialUser) (db.TutorialUser, []string) {
	var problems []string
	if e, err := session.ValidEmail(u.Email); err != nil || e != u.Email {
		u.Verified = false
		problems = append(problems, badEmail)
	}
	if name, err := session.ValidName(u.Name); err == nil {
		u.Name = name
	} else {
		u.Name = cleanName(u.Name)
		problems = append(problems, badName)
	}
	if session.ValidPhoto(u.Photo) != nil {
		u.Photo = ""
		problems = append(problems, badPhoto)
	}
	if _, err := bcrypt.Cost([]byte(u.Password)); err != nil {
		u.Password = ""
		problems = append(problems, badPassword)
	}
	return u, problems
}

// cleanName is name without control characters, trimmed and cut to 100
// characters; "User" if nothing is left.
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 100 {
		name = strings.TrimSpace(string(r[:100]))
	}
	if n, err := session.ValidName(name); err == nil {
		return n
	}
	return "User"
}

// printAdoption writes r for the operator: counts, then each user the
// rules refused by id and address (never a password or a name).
func printAdoption(w io.Writer, r db.AdoptReport) {
	trust := "the tutorial's verified flag not trusted (ADOPT_TRUST_VERIFIED=false)"
	if r.Trusted {
		trust = "the tutorial's verified flag trusted (ADOPT_TRUST_VERIFIED=true)"
	}
	fmt.Fprintf(w, "adopted the tutorial's database: %d users, %d of them verified, %s; %d refused by authd's rules\n",
		r.Users, r.Verified, trust, len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s %q:\n", p.ID, p.Email)
		for _, s := range p.Problems {
			fmt.Fprintf(w, "    %s\n", s)
		}
	}
}

// logAdoption logs r as printAdoption writes it, a line a refused user.
func logAdoption(log *slog.Logger) func(db.AdoptReport) {
	return func(r db.AdoptReport) {
		log.Warn("adopted the tutorial's database", "users", r.Users, "verified", r.Verified,
			"trust_verified", r.Trusted, "refused", len(r.Problems))
		for _, p := range r.Problems {
			log.Warn("adopted user refused by authd's rules", "user_id", p.ID.String(), "email", p.Email,
				"problems", strings.Join(p.Problems, "; "))
		}
	}
}
