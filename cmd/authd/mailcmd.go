package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/session"
)

const mailUsage = `usage: authd mail COMMAND [flags]

commands (each also takes -env-file F and -as NAME; flags may follow the arguments):
  list [-status pending|sending|sent|failed] [-limit N] [-json]
              the outbox, newest first: id, kind, to, status, attempts,
              next attempt, last error (never a mail's data)
  retry ID    queue a failed mail again, due now
  test TO     send one test mail through the configured transport at once,
              not through the outbox, and print the outcome

Every command writes one audit line to stderr, naming the operator: -as
NAME, else AUTHD_OPERATOR, else SUDO_USER, else the OS user.
`

// mailCmd: authd mail COMMAND ...
func mailCmd(ctx context.Context, args []string, c adminIO) error {
	if len(args) == 0 {
		return fmt.Errorf("mail: want a command\n%s", mailUsage)
	}
	cmds := map[string]func(context.Context, []string) error{
		"list":  c.mailList,
		"retry": c.mailRetry,
		"test":  c.mailTest,
	}
	return dispatch(ctx, "mail", args, cmds, mailUsage, c.stdout)
}

// mailJSON is a mail.Entry (never a mail's data) as -json prints it.
type mailJSON struct {
	ID            int64      `json:"id"`
	Kind          string     `json:"kind"`
	To            string     `json:"to"`
	Status        string     `json:"status"`
	Attempts      int32      `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     *string    `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
}

// maxErrorCell bounds last_error in mail list's table, in characters.
const maxErrorCell = 60

// mailList: authd mail list [-status S] [-limit N] [-json].
func (c adminIO) mailList(ctx context.Context, args []string) error {
	fs := c.flagSet("mail list", "[-status pending|sending|sent|failed] [-limit N] [-json]")
	status := fs.String("status", "", "only mails of this `status`: pending, sending, sent or failed")
	limit := fs.Int("limit", 50, "at most `N` mails, 1 to 1000")
	asJSON := fs.Bool("json", false, "print JSON")
	return c.runCommand(ctx, fs, args, 0, "mail.list", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("status", *status), slog.Int("limit", *limit))
		if *status != "" && !slices.Contains(mail.Statuses(), *status) {
			return refusef("-status must be pending, sending, sent or failed, not %q", *status)
		}
		if *limit < 1 || *limit > mail.MaxListed {
			return refusef("-limit must be 1 to %d", mail.MaxListed)
		}
		env, err := openDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer env.close()
		rows, err := newOutbox(cfg, env).List(ctx, *status, *limit)
		if err != nil {
			return err
		}
		au.add(slog.Int("mails", len(rows)))
		if *asJSON {
			out := make([]mailJSON, 0, len(rows))
			for _, m := range rows {
				out = append(out, mailJSON(m))
			}
			return printJSON(c.stdout, out)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tTO\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, m := range rows {
			next := "-"
			if m.Status == "pending" || m.Status == "sending" {
				next = when(&m.NextAttemptAt, "")
			}
			last := "-"
			if m.LastError != nil {
				last = cell(*m.LastError)
				if utf8.RuneCountInString(last) > maxErrorCell {
					last = string([]rune(last)[:maxErrorCell-1]) + "…"
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Kind, cell(m.To), m.Status, m.Attempts, next, last)
		}
		return tw.Flush()
	})
}

// mailRetry: authd mail retry ID.
func (c adminIO) mailRetry(ctx context.Context, args []string) error {
	fs := c.flagSet("mail retry", "ID")
	return c.runCommand(ctx, fs, args, 1, "mail.retry", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id < 1 {
			return refusef("%q is not a mail id (see authd mail list)", pos[0])
		}
		env, err := openDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer env.close()
		m, err := newOutbox(cfg, env).Retry(ctx, id)
		if m.Kind != "" {
			au.add(slog.String("kind", m.Kind))
		}
		var notFailed *mail.NotFailedError
		var late *mail.TooLateError
		switch {
		case errors.Is(err, mail.ErrNoMail):
			return refusef("no mail %d", id)
		case errors.As(err, &notFailed):
			return refusal(notFailed.Error())
		case errors.Is(err, mail.ErrSuperseded):
			return refusef("mail %d: %v", id, err)
		case errors.As(err, &late):
			return refusef("mail %d (%s) was queued %s ago, longer than %s (%s): the sender would fail it again at once; the user can ask for a new one (or use authd user reset-link)",
				id, m.Kind, late.Age.Round(time.Minute), tokenTTLs[onetime.Purpose(m.Kind)].name, late.Lifetime)
		case err != nil:
			return err
		}
		fmt.Fprintf(c.stdout, "mail %d (%s to %s) is queued again, due now\n", id, m.Kind, cell(m.To))
		if !cfg.MailOn() {
			fmt.Fprintln(c.stderr, "note: MAIL_TRANSPORT is off in this configuration; a replica with mail on sends it")
		}
		return nil
	})
}

// newOutbox is the mail service of authd mail list and retry.
func newOutbox(cfg config.Config, env *adminEnv) *mail.Outbox {
	return mail.NewOutbox(env.pool, cfg.DBTimeout, onetime.New(onetime.Options{Lifetimes: tokenLifetimes(cfg)}))
}

// mailTest: authd mail test TO. It sends a fixed plain-text mail through
// the transport of the configuration, now, without the outbox.
func (c adminIO) mailTest(ctx context.Context, args []string) error {
	fs := c.flagSet("mail test", "TO")
	return c.runCommand(ctx, fs, args, 1, "mail.test", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("transport", cfg.MailTransport))
		to, err := session.ValidEmail(pos[0])
		if err != nil {
			return err
		}
		tr, err := newMailTransport(cfg, slog.New(slog.NewTextHandler(c.stdout, nil)))
		switch {
		case errors.Is(err, errMailOff):
			return refusef("mail is off (MAIL_TRANSPORT=%s): there is no transport to test", cfg.MailTransport)
		case err != nil:
			return err
		}
		via := "the log"
		if cfg.MailTransport == "smtp" {
			via = fmt.Sprintf("%s (SMTP_TLS=%s)", net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(cfg.SMTPPort)), cfg.SMTPTLS)
		}
		product := cfg.EmailFromName
		_, domain, _ := strings.Cut(cfg.EmailFrom, "@")
		msg := mail.Message{
			MessageID: fmt.Sprintf("test.%d@%s", time.Now().UnixMicro(), strings.ToLower(domain)),
			From:      cfg.EmailFrom, FromName: product, To: to,
			Subject: "Test mail from " + product,
			Text:    "This is a test mail from " + product + " (authd mail test). If you can read it, mail delivery works.\n",
		}
		err = tr.Send(ctx, msg)
		switch {
		case err == nil:
			au.add(slog.String("result", "accepted"))
			if cfg.MailTransport == "log" {
				fmt.Fprintln(c.stdout, "logged, not sent: MAIL_TRANSPORT=log writes mails to the log")
				return nil
			}
			fmt.Fprintf(c.stdout, "sent: %s accepted the mail (250 after DATA), Message-ID <%s>\n", via, msg.MessageID)
			return nil
		case errors.Is(err, mail.ErrRejected):
			au.add(slog.String("result", "rejected"))
			return fmt.Errorf("rejected by %s (a 5xx reply: retrying would not help): %w", via, err)
		case errors.Is(err, mail.ErrNotSent):
			au.add(slog.String("result", "not_sent"))
			return fmt.Errorf("not sent through %s (worth a retry once fixed): %w", via, err)
		}
		au.add(slog.String("result", "unknown"))
		return fmt.Errorf("failed through %s, and the server may have taken the mail: %w", via, err)
	})
}
