package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

const userUsage = `usage: authd user COMMAND [flags]

commands (each also takes -env-file F and -as NAME; flags may follow the arguments):
  list [-email PREFIX] [-unverified] [-limit N] [-json]
                         users, oldest first (at most 100 unless -limit)
  show EMAIL [-json]     id, name, role, verified and when, created, password
                         changed, live sessions, failed logins
  create EMAIL [-name N] [-role admin|user] [-verified]
                         a new user; the password from stdin or a prompt
  verify EMAIL           mark the address verified
  set-role EMAIL admin|user
                         change the role; the last admin stays one
  set-password EMAIL     a new password from stdin or a prompt; ends every
                         session of the user at once
  revoke-sessions EMAIL  end every session of the user at once
  mfa-reset EMAIL        remove the user's second factor and recovery codes
                         and end every session of the user (a lost phone)
  reset-link EMAIL [-ttl 24h]
                         print a password reset link; nothing is sent
  delete EMAIL [-yes]    delete the user for good, after asking on the
                         terminal unless -yes; never the last admin

A password is read from the first line of stdin, or typed twice at a
prompt when stdin is a terminal; never from the command line.
Every command writes one audit line to stderr, naming the operator: -as
NAME, else AUTHD_OPERATOR, else SUDO_USER, else the OS user.
`

// userCmd: authd user COMMAND ...
func userCmd(ctx context.Context, args []string, c adminIO) error {
	if len(args) == 0 {
		return fmt.Errorf("user: want a command\n%s", userUsage)
	}
	cmds := map[string]func(context.Context, []string) error{
		"list":            c.userList,
		"show":            c.userShow,
		"create":          c.userCreate,
		"verify":          c.userVerify,
		"set-role":        c.userSetRole,
		"set-password":    c.userSetPassword,
		"revoke-sessions": c.userRevokeSessions,
		"mfa-reset":       c.userMFAReset,
		"reset-link":      c.userResetLink,
		"delete":          c.userDelete,
	}
	return dispatch(ctx, "user", args, cmds, userUsage, c.stdout)
}

// userJSON is a user as -json prints it; never the password hash.
type userJSON struct {
	ID                string     `json:"id"`
	Email             string     `json:"email"`
	Name              string     `json:"name"`
	Role              string     `json:"role"`
	Verified          bool       `json:"verified"`
	EmailVerifiedAt   *time.Time `json:"email_verified_at"`
	CreatedAt         time.Time  `json:"created_at"`
	PasswordChangedAt *time.Time `json:"password_changed_at"`
	// show only
	LiveSessions *int64     `json:"live_sessions,omitempty"`
	FailedLogins *int32     `json:"failed_logins,omitempty"`
	LockedUntil  *time.Time `json:"login_locked_until,omitempty"`
}

func toJSON(u db.User) userJSON {
	return userJSON{ID: u.ID.String(), Email: u.Email, Name: u.Name, Role: u.Role, Verified: u.Verified,
		EmailVerifiedAt: u.EmailVerifiedAt, CreatedAt: u.CreatedAt, PasswordChangedAt: u.PasswordChangedAt}
}

// userList: authd user list [-email PREFIX] [-unverified] [-limit N] [-json].
func (c adminIO) userList(ctx context.Context, args []string) error {
	fs := c.flagSet("user list", "[-email PREFIX] [-unverified] [-limit N] [-json]")
	prefix := fs.String("email", "", "only addresses that start with `PREFIX`")
	unverified := fs.Bool("unverified", false, "only users whose address is not verified")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most `N` users, 1 to %d", session.MaxListed))
	asJSON := fs.Bool("json", false, "print JSON")
	return c.runCommand(ctx, fs, args, 0, "user.list", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("email_prefix", *prefix), slog.Bool("unverified", *unverified), slog.Int("limit", *limit))
		if *limit < 1 {
			return refusal(fmt.Sprintf("-limit must be 1 to %d", session.MaxListed))
		}
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		users, err := env.admin.List(ctx, session.UserFilter{EmailPrefix: *prefix, Unverified: *unverified, Limit: *limit})
		if err != nil {
			return err
		}
		au.add(slog.Int("users", len(users)))
		if *asJSON {
			out := make([]userJSON, 0, len(users))
			for _, u := range users {
				out = append(out, toJSON(u))
			}
			return printJSON(c.stdout, out)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tVERIFIED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, cell(u.Email), cell(u.Name), u.Role, yesNo(u.Verified), when(&u.CreatedAt, ""))
		}
		return tw.Flush()
	})
}

// userShow: authd user show EMAIL [-json].
func (c adminIO) userShow(ctx context.Context, args []string) error {
	fs := c.flagSet("user show", "EMAIL [-json]")
	asJSON := fs.Bool("json", false, "print JSON")
	return c.runCommand(ctx, fs, args, 1, "user.show", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		acct, err := env.admin.Show(ctx, pos[0])
		if err != nil {
			return err
		}
		u := acct.User
		au.user(u)
		if *asJSON {
			j := toJSON(u)
			j.LiveSessions, j.FailedLogins, j.LockedUntil = &acct.LiveSessions, &acct.FailedLogins, acct.LockedUntil
			return printJSON(c.stdout, j)
		}
		verified := "no"
		if u.Verified {
			verified = "yes, " + when(u.EmailVerifiedAt, "time unknown")
		}
		logins := strconv.Itoa(int(acct.FailedLogins))
		if acct.LockedUntil != nil {
			logins += ", locked until " + when(acct.LockedUntil, "")
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		for _, row := range [][2]string{
			{"id", u.ID.String()},
			{"email", cell(u.Email)},
			{"name", cell(u.Name)},
			{"role", u.Role},
			{"verified", verified},
			{"created", when(&u.CreatedAt, "")},
			{"password changed", when(u.PasswordChangedAt, "never")},
			{"live sessions", strconv.FormatInt(acct.LiveSessions, 10)},
			{"failed logins", logins},
		} {
			fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
		}
		return tw.Flush()
	})
}

// userCreate: authd user create EMAIL [-name N] [-role admin|user] [-verified].
func (c adminIO) userCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("user create", "EMAIL [-name N] [-role admin|user] [-verified]")
	name := fs.String("name", "", "the user's `name` (default: the part of EMAIL before the @)")
	role := fs.String("role", "user", "`role`: user or admin")
	verified := fs.Bool("verified", false, "the address counts as verified")
	return c.runCommand(ctx, fs, args, 1, "user.create", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("role", *role), slog.Bool("verified", *verified))
		pw, err := c.readPassword()
		if err != nil {
			return err
		}
		env, err := openAdmin(ctx, cfg, true)
		if err != nil {
			return err
		}
		defer env.close()
		u, err := env.admin.Create(ctx, session.NewUser{Email: pos[0], Name: *name, Password: pw, Role: *role, Verified: *verified})
		if err != nil {
			return err
		}
		au.user(u)
		fmt.Fprintf(c.stdout, "created %s: id %s, name %q, role %s, verified %s\n", u.Email, u.ID, u.Name, u.Role, yesNo(u.Verified))
		return nil
	})
}

// userVerify: authd user verify EMAIL.
func (c adminIO) userVerify(ctx context.Context, args []string) error {
	fs := c.flagSet("user verify", "EMAIL")
	return c.runCommand(ctx, fs, args, 1, "user.verify", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		u, already, err := env.admin.Verify(ctx, pos[0])
		if err != nil {
			return err
		}
		au.user(u)
		au.add(slog.Bool("changed", !already))
		if already {
			fmt.Fprintf(c.stdout, "%s was verified already\n", u.Email)
			return nil
		}
		fmt.Fprintf(c.stdout, "%s is verified\n", u.Email)
		return nil
	})
}

// userSetRole: authd user set-role EMAIL admin|user.
func (c adminIO) userSetRole(ctx context.Context, args []string) error {
	fs := c.flagSet("user set-role", "EMAIL admin|user")
	return c.runCommand(ctx, fs, args, 2, "user.set-role", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("role", pos[1]))
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		u, unchanged, err := env.admin.SetRole(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		au.user(u)
		au.add(slog.Bool("changed", !unchanged))
		if unchanged {
			fmt.Fprintf(c.stdout, "%s is %s already\n", u.Email, u.Role)
			return nil
		}
		fmt.Fprintf(c.stdout, "%s is now %s\n", u.Email, u.Role)
		return nil
	})
}

// userSetPassword: authd user set-password EMAIL, the password from stdin
// or a prompt.
func (c adminIO) userSetPassword(ctx context.Context, args []string) error {
	fs := c.flagSet("user set-password", "EMAIL   (the password from stdin or a prompt)")
	return c.runCommand(ctx, fs, args, 1, "user.set-password", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		pw, err := c.readPassword()
		if err != nil {
			return err
		}
		env, err := openAdmin(ctx, cfg, true)
		if err != nil {
			return err
		}
		defer env.close()
		u, n, err := env.admin.SetPassword(ctx, pos[0], pw)
		if err != nil {
			return err
		}
		au.user(u)
		au.add(slog.Int64("sessions_revoked", n))
		fmt.Fprintf(c.stdout, "password of %s set; %d session(s) ended\n", u.Email, n)
		return nil
	})
}

// userRevokeSessions: authd user revoke-sessions EMAIL.
func (c adminIO) userRevokeSessions(ctx context.Context, args []string) error {
	fs := c.flagSet("user revoke-sessions", "EMAIL")
	return c.runCommand(ctx, fs, args, 1, "user.revoke-sessions", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		u, n, err := env.admin.RevokeSessions(ctx, pos[0])
		if err != nil {
			return err
		}
		au.user(u)
		au.add(slog.Int64("sessions_revoked", n))
		fmt.Fprintf(c.stdout, "%d session(s) of %s ended\n", n, u.Email)
		return nil
	})
}

// userMFAReset: authd user mfa-reset EMAIL.
func (c adminIO) userMFAReset(ctx context.Context, args []string) error {
	fs := c.flagSet("user mfa-reset", "EMAIL")
	return c.runCommand(ctx, fs, args, 1, "user.mfa-reset", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		u, n, err := env.admin.MFAReset(ctx, pos[0])
		if err != nil {
			return err
		}
		au.user(u)
		au.add(slog.Int64("sessions_revoked", n))
		fmt.Fprintf(c.stdout, "second factor of %s removed; %d session(s) ended\n", u.Email, n)
		return nil
	})
}

// userResetLink: authd user reset-link EMAIL [-ttl 24h]. The link goes to
// stdout alone, so that a script can take it; nothing is mailed.
func (c adminIO) userResetLink(ctx context.Context, args []string) error {
	fs := c.flagSet("user reset-link", "EMAIL [-ttl 24h]")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the link works, 1m to 168h")
	return c.runCommand(ctx, fs, args, 1, "user.reset-link", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("ttl", ttl.String()))
		if cfg.EmailLinkBase == "" {
			return refusal("no link base: set EMAIL_LINK_BASE or CLIENT_ORIGIN")
		}
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		rt, err := env.admin.ResetToken(ctx, pos[0], *ttl)
		if err != nil {
			return err
		}
		au.user(rt.User)
		au.add(slog.String("expires_at", when(&rt.ExpiresAt, "")))
		fmt.Fprintln(c.stdout, cfg.EmailLinkBase+strings.Replace(cfg.PasswordResetPath, "{token}", rt.Token, 1))
		fmt.Fprintf(c.stderr, "a password reset link for %s, working once until %s; nothing was sent\n", rt.User.Email, when(&rt.ExpiresAt, ""))
		return nil
	})
}

// userDelete: authd user delete EMAIL [-yes].
func (c adminIO) userDelete(ctx context.Context, args []string) error {
	fs := c.flagSet("user delete", "EMAIL [-yes]")
	yes := fs.Bool("yes", false, "do not ask")
	return c.runCommand(ctx, fs, args, 1, "user.delete", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		if !*yes {
			acct, err := env.admin.Show(ctx, pos[0])
			if err != nil {
				return err
			}
			u := acct.User
			au.user(u)
			q := fmt.Sprintf("Delete %s (%q, %s, %d live session(s)) for good?", u.Email, cell(u.Name), u.Role, acct.LiveSessions)
			if err := c.confirm(q, u.Email); err != nil {
				return err
			}
		}
		u, n, err := env.admin.Delete(ctx, pos[0])
		if err != nil {
			return err
		}
		if *yes {
			au.user(u)
		}
		au.add(slog.Int64("sessions_revoked", n))
		fmt.Fprintf(c.stdout, "deleted %s (id %s); %d session(s) ended\n", u.Email, u.ID, n)
		return nil
	})
}
