package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one rendered mail, ready to send.
type Message struct {
	MessageID string // without angle brackets
	From      string // address
	FromName  string // display name
	To        string // address
	Subject   string
	Text      string
	HTML      string
}

// Transport delivers a message. An error wrapping ErrRejected is
// permanent (the server refused this mail with a 5xx reply); any other
// error is transient (4xx, network, timeout, TLS) and worth a retry. An
// error wrapping ErrNotSent also says that the server certainly did not
// take the mail, so its token can be dropped; without it the server may
// have (a connection lost after the message was written).
type Transport interface {
	Send(ctx context.Context, m Message) error
}

// ErrRejected marks a permanent failure: retrying the same mail would be
// refused the same way.
var ErrRejected = errors.New("rejected by the mail server")

// ErrNotSent marks a failure before the server could have taken the mail.
var ErrNotSent = errors.New("not sent")

// TLS modes of SMTP_TLS.
const (
	TLSStartTLS = "starttls" // STARTTLS required, certificate verified (port 587)
	TLSImplicit = "implicit" // TLS from the first byte, certificate verified (port 465)
	TLSNone     = "none"     // plain text; only to a loopback host
)

// SMTPOptions configure the SMTP transport.
type SMTPOptions struct {
	Host     string        // SMTP_HOST
	Port     int           // SMTP_PORT
	Username string        // SMTP_USER; with Password, AUTH (only over TLS or to loopback)
	Password string        // SMTP_PASS
	TLS      string        // SMTP_TLS: TLSStartTLS, TLSImplicit or TLSNone
	Timeout  time.Duration // SMTP_TIMEOUT: bounds one whole delivery, connect to QUIT

	// RootCAs replaces the system's roots for verifying the server's
	// certificate. Only tests set it (smtptest's throwaway certificate);
	// configuration never does. There is no way to skip verification.
	RootCAs *x509.CertPool
}

// SMTP sends over SMTP, one connection per mail.
type SMTP struct {
	o SMTPOptions
}

// NewSMTP checks o and returns the transport. TLS none is refused unless
// the host is loopback (localhost or a loopback address), and so is AUTH
// without TLS to anything else.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	switch {
	case o.Timeout <= 0:
		return nil, fmt.Errorf("smtp: timeout %s is not positive", o.Timeout)
	case o.Host == "":
		return nil, errors.New("smtp: no host")
	case o.Port < 1 || o.Port > 65535:
		return nil, fmt.Errorf("smtp: port %d out of range", o.Port)
	case o.TLS != TLSStartTLS && o.TLS != TLSImplicit && o.TLS != TLSNone:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q", o.TLS)
	case o.TLS == TLSNone && !IsLoopback(o.Host):
		return nil, fmt.Errorf("smtp: TLS none is allowed only to a loopback host, not %s", o.Host)
	case (o.Username == "") != (o.Password == ""):
		return nil, errors.New("smtp: set both user and password, or neither")
	}
	return &SMTP{o: o}, nil
}

// IsLoopback reports whether host is "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Send delivers m. The whole exchange, from connecting to QUIT, is bound
// by the timeout: the connection is closed when it runs out.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.message(m)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrNotSent, ErrRejected, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	c, err := gomail.NewClient(s.o.Host, s.clientOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// The server took the mail (250 after DATA); a failing RSET or
		// QUIT after that changes nothing.
		return nil
	}
	if err == nil {
		return errors.New("smtp: the server did not confirm delivery")
	}
	return classify(err)
}

func (s *SMTP) clientOptions(ctx context.Context) []gomail.Option {
	tlsConfig := &tls.Config{ServerName: s.o.Host, MinVersion: tls.VersionTLS12, RootCAs: s.o.RootCAs}
	dialer := &net.Dialer{}
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		var err error
		if s.o.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(dctx, network, addr)
		} else {
			conn, err = dialer.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// go-mail moves the connection's deadline on each command; this
		// bounds the whole exchange.
		context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.o.Port),
		gomail.WithTimeout(s.o.Timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithoutNoop(),
	}
	switch s.o.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// The dialer did the handshake; no STARTTLS on top. go-mail's own
		// SSL option is off because the dial function replaces its dialer,
		// so it does not know the connection is encrypted: AUTH is then
		// restricted to what it allows without TLS, which is why implicit
		// TLS uses PLAIN explicitly below.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.o.Username != "" {
		opts = append(opts, gomail.WithUsername(s.o.Username), gomail.WithPassword(s.o.Password))
		switch s.o.TLS {
		case TLSStartTLS:
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		default:
			// Implicit TLS, or plain text to loopback (NewSMTP allows
			// nothing else): PLAIN is safe on both.
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlainNoEnc))
		}
	}
	return opts
}

func (s *SMTP) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(m.FromName, m.From); err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("to address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// classify marks a 5xx reply to the mail itself (MAIL FROM, RCPT TO, DATA)
// as ErrRejected. Everything else stays transient: network errors,
// timeouts, 4xx replies, TLS failures, and also 5xx replies before the
// mail (greeting, EHLO, STARTTLS, AUTH), which say the server or authd's
// settings are wrong, not this mail; those mails wait with backoff, up to
// MAIL_MAX_ATTEMPTS, while an operator fixes it.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			if code := replyCode(err); code >= 500 && code < 600 {
				err = fmt.Errorf("%w: %w", ErrRejected, err)
			}
		}
	}
	if notSent(err) {
		err = fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return err
}

// notSent reports whether err shows that the server did not take the
// mail: anything before DATA's content (connecting, greeting, EHLO,
// STARTTLS, AUTH, MAIL, RCPT, DATA itself), or a refusal of the final dot.
// A connection lost while or after writing the content is not: the server
// may have queued the mail.
func notSent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return true // DialAndSend failed before sending anything
	}
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo,
		gomail.ErrSMTPData, gomail.ErrConnCheck, gomail.ErrNoUnencoded:
		return true
	case gomail.ErrSMTPDataClose:
		return replyCode(err) >= 400
	}
	return false
}

// replyCode finds the SMTP reply code in err, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		if c := se.ErrorCode(); c != 0 {
			return c
		}
	}
	// go-mail's errors start with the reply ("550 5.1.1 ...").
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if len(msg) >= 3 {
		if n, e := strconv.Atoi(msg[:3]); e == nil && n >= 200 && n < 600 {
			return n
		}
	}
	return 0
}

// Log is the development transport: it writes each mail, links included,
// to the log instead of sending it. Configuration refuses it unless
// COOKIE_SECURE=false, because authd otherwise never logs a secret.
type Log struct {
	log *slog.Logger
}

// NewLog returns a transport that logs mails with log at INFO.
func NewLog(log *slog.Logger) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{log: log}
}

// Send logs m.
func (l *Log) Send(ctx context.Context, m Message) error {
	l.log.InfoContext(ctx, "mail (MAIL_TRANSPORT=log, development only: not sent)",
		"message_id", m.MessageID, "to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
