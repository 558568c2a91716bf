// Package smtptest runs an SMTP server in the test process, on loopback,
// speaking real SMTP (github.com/emersion/go-smtp): EHLO, STARTTLS or
// implicit TLS with a throwaway certificate ([Server.RootCAs] trusts it),
// AUTH PLAIN, MAIL, RCPT and DATA. It keeps every message it accepts,
// parsed with net/mail and mime/multipart, and can misbehave on demand
// ([Fault]).
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// Addr to listen on; empty picks a free port on 127.0.0.1. Give the
	// address of a closed server to bring it back.
	Addr string
	// STARTTLS offers STARTTLS with the throwaway certificate.
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (port 465 style).
	ImplicitTLS bool
	// Username and Password, when set, are the only AUTH PLAIN
	// credentials accepted, and MAIL needs them. AUTH is offered only
	// over TLS unless AllowInsecureAuth.
	Username, Password string
	AllowInsecureAuth  bool
}

// Fault is a way for the server to misbehave.
type Fault int32

const (
	None          Fault = iota
	RejectConnect       // answer 421 to every connection and close it, before any greeting
	TempFailData        // read the message, then answer 451 (not kept)
	RejectRcpt          // answer 550 to RCPT TO
	DropAfterData       // read and keep the message, then close the connection without a reply
	Stall               // accept connections and never say a word
)

// Message is one message the server accepted.
type Message struct {
	From     string   // MAIL FROM
	To       []string // RCPT TO
	Raw      []byte
	Header   mail.Header
	Subject  string // decoded
	Text     string // the text/plain part, decoded, line breaks as \n
	HTML     string // the text/html part, decoded, line breaks as \n
	TLS      bool   // the message came over TLS
	AuthUser string // the AUTH user, if any
}

// Server is a running test SMTP server.
type Server struct {
	o     Options
	srv   *smtp.Server
	ln    net.Listener
	roots *x509.CertPool
	fault atomic.Int32

	mu       sync.Mutex
	messages []Message
	conns    int
	stalled  []net.Conn
	done     chan struct{}
}

// New starts a server, closed at the end of the test.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server; Close stops it.
func Start(o Options) (*Server, error) {
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, done: make(chan struct{})}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "smtptest.localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.MaxRecipients = 10
	s.srv.AllowInsecureAuth = o.AllowInsecureAuth
	s.srv.ErrorLog = log.New(io.Discard, "", 0)

	var tlsConfig *tls.Config
	if o.STARTTLS || o.ImplicitTLS {
		cert, roots, err := throwawayCert()
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.roots = roots
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if o.STARTTLS {
		s.srv.TLSConfig = tlsConfig
	}
	s.ln = &faultListener{Listener: ln, s: s}
	if o.ImplicitTLS {
		s.ln = tls.NewListener(s.ln, tlsConfig)
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(s.ln)
	}()
	return s, nil
}

// Close stops the server and drops its connections.
func (s *Server) Close() {
	s.srv.Close()
	s.ln.Close() // go-smtp knows the listener only once Serve has started
	<-s.done
	s.mu.Lock()
	for _, c := range s.stalled {
		c.Close()
	}
	s.stalled = nil
	s.mu.Unlock()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the server's IP address.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr()); return h }

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// RootCAs trusts the server's throwaway certificate (nil without TLS).
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// SetFault makes the server misbehave from now on; None stops it.
func (s *Server) SetFault(f Fault) { s.fault.Store(int32(f)) }

func (s *Server) currentFault() Fault { return Fault(s.fault.Load()) }

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Connections counts the connections accepted, including rejected ones.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// faultListener answers 421 and hangs up when the fault says so.
type faultListener struct {
	net.Listener
	s *Server
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.mu.Lock()
		l.s.conns++
		l.s.mu.Unlock()
		switch l.s.currentFault() {
		case RejectConnect:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "421 4.3.2 smtptest: service not available, closing channel\r\n")
			c.Close()
			continue
		case Stall:
			l.s.mu.Lock()
			l.s.stalled = append(l.s.stalled, c)
			l.s.mu.Unlock()
			continue
		}
		return c, nil
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, c: c}, nil
}

type session struct {
	s        *Server
	c        *smtp.Conn
	authUser string
	from     string
	to       []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.o.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || se.s.o.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if username != se.s.o.Username || password != se.s.o.Password {
			return smtp.ErrAuthFailed
		}
		se.authUser = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.o.Username != "" && se.authUser == "" {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if se.s.currentFault() == RejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "smtptest: no such user"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch se.s.currentFault() {
	case TempFailData:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "smtptest: try again later"}
	case RejectRcpt:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "smtptest: no such user"}
	}
	_, isTLS := se.c.TLSConnectionState()
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	m.From, m.To, m.TLS, m.AuthUser = se.from, append([]string(nil), se.to...), isTLS, se.authUser
	se.s.mu.Lock()
	se.s.messages = append(se.s.messages, m)
	se.s.mu.Unlock()
	if se.s.currentFault() == DropAfterData {
		se.c.Conn().Close()
	}
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// parse reads a message and its text and HTML parts.
func parse(raw []byte) (Message, error) {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, err
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return m, fmt.Errorf("subject: %w", err)
	}
	err = m.readPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return m, err
}

func (m *Message) readPart(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart() // decodes quoted-printable itself
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.readPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "base64") {
		body = base64.NewDecoder(base64.StdEncoding, &lineJoiner{r: body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mt {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}

// lineJoiner drops the line breaks of a base64 body.
type lineJoiner struct{ r io.Reader }

func (l *lineJoiner) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// throwawayCert makes a self-signed certificate for localhost, 127.0.0.1
// and ::1, and a pool that trusts it.
func throwawayCert() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots, nil
}
