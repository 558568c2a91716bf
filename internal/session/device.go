package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/reqlog"
)

// Known devices. A device is a browser holding a device id: 32 random
// bytes, base64url, in the device_id cookie (internal/http), which the
// client sends back at each login (Client.Device). known_devices stores
// its SHA-256 per user, never the id. Every login that creates a session
// records its device (deviceLogin), and
//
//   - the first one from a device unknown for the user mails the owner a
//     new_device notice (with Options.NewDeviceMail and mail on), except
//     when the user has no known device at all: the first device ever,
//     such as the first login after registration or the first after this
//     feature's migration, is recorded without a mail;
//   - a known device keeps a login throttle budget of its own
//     (knownDevice), so that an attacker without its cookie cannot lock
//     the owner out by failing the account's shared budget (OWASP's
//     device cookies).
//
// A user keeps at most maxKnownDevices devices: recording one more deletes
// the least recently seen.
const (
	deviceIDBytes   = 32
	maxKnownDevices = 50
)

// deviceIDLen is the length of a device id's text.
var deviceIDLen = base64.RawURLEncoding.EncodedLen(deviceIDBytes)

// newDeviceID returns a fresh device id.
func newDeviceID() (string, error) {
	var b [deviceIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random device id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ValidDeviceID reports whether raw has the form of a device id. Anything
// else a client sends as one is treated as none.
func ValidDeviceID(raw string) bool {
	if len(raw) != deviceIDLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	return err == nil && len(b) == deviceIDBytes
}

// deviceHash is what known_devices stores of a device id.
func deviceHash(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}

// deviceKeySep joins an email and a device hash into a throttle key. A
// control character: no login email holds one (validLogin), so no email
// can name another's device budget.
const deviceKeySep = "\x1f"

// knownDevice looks up whether device (the raw cookie) is known for the
// account of email, and returns the login_throttle row an attempt from it
// counts against: a known device's own (email, U+001F, the hex of its
// hash), else the email's shared one. An id that is malformed, unknown, of
// another account or that cannot be looked up counts as none. The look-up
// is one statement, made only when a well-formed id is presented;
// ReserveLoginAttempt on the chosen key still decides each race alone. A
// known device's password check also goes in the hasher's known lane
// (Login).
func (s *Service) knownDevice(ctx context.Context, email, device string) (key string, known bool) {
	if !ValidDeviceID(device) {
		return email, false
	}
	h := deviceHash(device)
	known, err := s.q.IsKnownDevice(ctx, db.IsKnownDeviceParams{Email: email, DeviceHash: h})
	if err != nil {
		if ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "known device look-up failed; the attempt counts as from an unknown device", slog.String("error", err.Error()))
		}
		return email, false
	}
	if !known {
		return email, false
	}
	if s.opts.LoginFailureThreshold <= 0 {
		return email, true
	}
	return email + deviceKeySep + hex.EncodeToString(h), true
}

// deviceLogin records the device of a login that created a session for
// user (see the top of this file), and returns the device id the client
// should keep: the one it sent if that one is known for user, else a new
// one. A known
// device costs one
// statement (TouchKnownDevice); a device new for the user is recorded in
// a transaction with the user locked, so that of two first sign-ins at
// once the second sees the first. A new device of a user who had
// others queues the new_device notice in the same transaction, within the
// recipient's allowance for the kind (Service.notice); a notice withheld
// by the allowance leaves the device unrecorded, so that its next login
// tries again.
func (s *Service) deviceLogin(ctx context.Context, user db.User, c Client) (string, error) {
	now := s.now()
	ua, addr := storable(c.UserAgent, maxUserAgent), storable(c.Addr, maxUserAgent)
	if ValidDeviceID(c.Device) {
		// A known device (the usual login) is one statement, outside any
		// transaction; only a device new for the user takes the lock.
		n, err := s.q.TouchKnownDevice(ctx, db.TouchKnownDeviceParams{UserID: user.ID, DeviceHash: deviceHash(c.Device), Now: now, UserAgent: ua, ClientAddr: addr})
		if err != nil {
			return "", fmt.Errorf("record device: %w", err)
		}
		if n > 0 {
			return c.Device, nil
		}
	}
	// A device new for the user gets a fresh id, never the one the client
	// brought: that one may have been planted (a cookie set from a sibling
	// domain), and its planter would then hold a device known for the
	// account.
	id, err := newDeviceID()
	if err != nil {
		return "", err
	}
	h := deviceHash(id)
	err = s.tx(ctx, func(q *db.Queries) error {
		u, err := q.LockUser(ctx, user.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if u.PasswordHash != user.PasswordHash {
			// A reset or change committed after this login's session was
			// made: it ended that session and forgot the devices, and
			// this one must not come back after it.
			return nil
		}
		seen, err := q.SeeDevice(ctx, db.SeeDeviceParams{
			UserID: u.ID, DeviceHash: h, Now: now, UserAgent: ua, ClientAddr: addr,
		})
		if err != nil {
			return fmt.Errorf("record device: %w", err)
		}
		if !seen.Inserted {
			return nil
		}
		if seen.Others {
			// A sign-in from a device new for an account that had others:
			// in the user's history, and for webhooks.
			if err := s.record(ctx, q, event{name: reqlog.DeviceNew, user: u.ID,
				data: map[string]any{"device": BrowserSummary(c.UserAgent)}}); err != nil {
				return err
			}
		}
		if seen.Others && s.opts.Mail && s.opts.NewDeviceMail {
			m := to(mail.KindNewDevice, u)
			m.Data.Device, m.Data.Addr = BrowserSummary(c.UserAgent), storable(c.Addr, 64)
			m.Data.At = now.UTC().Format("2 Jan 2006 15:04 MST")
			mails, err := s.notice(ctx, q, m)
			if err != nil {
				return err
			}
			if len(mails) == 0 {
				return errNoticeWithheld
			}
			if err := s.queue(ctx, q, mails...); err != nil {
				return err
			}
		}
		if _, err := q.PruneKnownDevices(ctx, db.PruneKnownDevicesParams{UserID: u.ID, Keep: maxKnownDevices}); err != nil {
			return fmt.Errorf("prune devices: %w", err)
		}
		return nil
	})
	if errors.Is(err, errNoticeWithheld) {
		// Rolled back: the device stays unknown (a refused allowance
		// changes nothing), and the session stands.
		s.log.LogAttrs(ctx, slog.LevelInfo, "new device not recorded: its notice is past the recipient's allowance",
			slog.String("user_id", user.ID.String()))
		return id, nil
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// errNoticeWithheld rolls deviceLogin's transaction back.
var errNoticeWithheld = errors.New("new device notice withheld")

// BrowserSummary names the browser and system of a User-Agent in a few
// fixed words ("Firefox on Windows", "Safari on iOS"), for the new_device
// mail: nothing of the client's text itself reaches the mail.
func BrowserSummary(ua string) string {
	browser := "An unknown browser"
	for _, b := range [...]struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Go-http-client/", "A Go program"}, {"python-requests/", "A Python program"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range [...]struct{ token, name string }{
		{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}
