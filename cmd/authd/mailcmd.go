package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/session"
)

const mailUsage = `usage: authd mail COMMAND [flags]

commands (each also takes -env-file F; flags may follow the arguments):
  list [-status pending|sending|sent|failed] [-limit N] [-json]
              the outbox, newest first: id, kind, to, status, attempts,
              next attempt, last error (never a mail's data)
  retry ID    queue a failed mail again, due now
  test TO     send one test mail through the configured transport at once,
              not through the outbox, and print the outcome

Every command writes one audit line to stderr.
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

// mailJSON is an outbox row as -json prints it; never its data.
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
func (c adminIO) mailList(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("mail list", "[-status pending|sending|sent|failed] [-limit N] [-json]")
	status := fs.String("status", "", "only mails of this `status`: pending, sending, sent or failed")
	limit := fs.Int("limit", 50, "at most `N` mails, 1 to 1000")
	asJSON := fs.Bool("json", false, "print JSON")
	_, cfg, err := c.parse(fs, args, 0)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "mail.list", "")
	au.add(slog.String("status", *status), slog.Int("limit", *limit))
	defer func() { au.done(ctx, err) }()

	var st *string
	switch *status {
	case "":
	case "pending", "sending", "sent", "failed":
		st = status
	default:
		return refusef("-status must be pending, sending, sent or failed, not %q", *status)
	}
	if *limit < 1 || *limit > 1000 {
		return refusal("-limit must be 1 to 1000")
	}
	env, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer env.close()
	rows, err := env.q.ListMail(ctx, db.ListMailParams{Status: st, MaxRows: int32(*limit)})
	if err != nil {
		return fmt.Errorf("list mail: %w", err)
	}
	au.add(slog.Int("mails", len(rows)))
	if *asJSON {
		out := make([]mailJSON, 0, len(rows))
		for _, m := range rows {
			out = append(out, mailJSON{ID: m.ID, Kind: m.Kind, To: m.ToAddr, Status: m.Status, Attempts: m.Attempts,
				NextAttemptAt: m.NextAttemptAt, LastError: m.LastError, CreatedAt: m.CreatedAt, SentAt: m.SentAt})
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
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Kind, cell(m.ToAddr), m.Status, m.Attempts, next, last)
	}
	return tw.Flush()
}

// mailRetry: authd mail retry ID.
func (c adminIO) mailRetry(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("mail retry", "ID")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "mail.retry", pos[0])
	defer func() { au.done(ctx, err) }()

	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return refusef("%q is not a mail id (see authd mail list)", pos[0])
	}
	env, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer env.close()
	m, err := env.q.GetMail(ctx, id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return refusef("no mail %d", id)
	case err != nil:
		return fmt.Errorf("get mail: %w", err)
	}
	au.add(slog.String("kind", m.Kind))
	if m.Status != "failed" {
		return refusef("mail %d is %s; only a failed mail can be retried", id, m.Status)
	}
	now := time.Now()
	// The sender fails a token mail queued longer ago than its token's
	// lifetime at once, and a retry keeps the time it was queued.
	if ttl, name := tokenTTL(cfg, m.Kind); ttl > 0 && now.Sub(m.CreatedAt) > ttl {
		return refusef("mail %d (%s) was queued %s ago, longer than %s (%s): the sender would fail it again at once; the user can ask for a new one (or use authd user reset-link)",
			id, m.Kind, now.Sub(m.CreatedAt).Round(time.Minute), name, ttl)
	}
	n, err := env.q.RequeueMail(ctx, db.RequeueMailParams{ID: id, Now: now})
	switch {
	case err != nil:
		return fmt.Errorf("requeue mail: %w", err)
	case n == 0:
		return refusef("mail %d is no longer failed", id)
	}
	fmt.Fprintf(c.stdout, "mail %d (%s to %s) is queued again, due now\n", id, m.Kind, cell(m.ToAddr))
	if !cfg.MailOn() {
		fmt.Fprintln(c.stderr, "note: MAIL_TRANSPORT is off in this configuration; a replica with mail on sends it")
	}
	return nil
}

// tokenTTL is the token lifetime of a token kind and its variable; 0 for
// a notice.
func tokenTTL(cfg config.Config, kind string) (time.Duration, string) {
	switch kind {
	case mail.KindVerifyEmail:
		return cfg.VerifyTokenTTL, "VERIFY_TOKEN_TTL"
	case mail.KindResetPassword:
		return cfg.ResetTokenTTL, "RESET_TOKEN_TTL"
	case mail.KindChangeEmail:
		return cfg.EmailChangeTokenTTL, "EMAIL_CHANGE_TOKEN_TTL"
	}
	return 0, ""
}

// mailTest: authd mail test TO. It sends a fixed plain-text mail through
// the transport of the configuration, now, without the outbox.
func (c adminIO) mailTest(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("mail test", "TO")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "mail.test", pos[0])
	au.add(slog.String("transport", cfg.MailTransport))
	defer func() { au.done(ctx, err) }()

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
	if product == "" {
		product = "authd"
	}
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
}
