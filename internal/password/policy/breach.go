package policy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultRangeURL is the Pwned Passwords range API: the first five hex
// digits of a password's SHA-1 are appended to it.
const DefaultRangeURL = "https://api.pwnedpasswords.com/range/"

// maxRangeBody bounds the answer read: a padded range holds some 800 to
// 1,000 lines of 40 bytes or so.
const maxRangeBody = 1 << 20

// Ranges checks passwords against a breached-password corpus by
// k-anonymity range queries (the Pwned Passwords API): it sends only the
// first 5 hex digits of the password's SHA-1, asks for padding (so the
// answer's size tells an observer nothing either), and compares the
// suffixes it gets back itself. Neither the password nor its full hash
// leaves the process.
type Ranges struct {
	base    string
	client  *http.Client
	timeout time.Duration
}

// NewRanges returns a checker of the range API at base (the prefix is
// appended to it; "" is DefaultRangeURL), each query bounded by timeout
// (0: 2s).
func NewRanges(base string, timeout time.Duration) *Ranges {
	if base == "" {
		base = DefaultRangeURL
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Ranges{base: base, client: &http.Client{Timeout: timeout}, timeout: timeout}
}

// Breached reports whether pw is in the corpus (seen at least once). An
// error means the answer is unknown: the service could not be reached in
// time, or answered something else than a range.
func (r *Ranges) Breached(ctx context.Context, pw string) (bool, error) {
	sum := sha1.Sum([]byte(pw))
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := hash[:5], hash[5:]

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("range query: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "authd")
	resp, err := r.client.Do(req)
	if err != nil {
		// Without the URL: its prefix narrows the password down, and the
		// error is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("range query: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("range query: status %d", resp.StatusCode)
	}
	return inRange(io.LimitReader(resp.Body, maxRangeBody), suffix)
}

// inRange reads a range answer, lines of "SUFFIX:COUNT", and reports
// whether suffix is there with a count above 0 (padding lines have 0).
func inRange(body io.Reader, suffix string) (bool, error) {
	sc := bufio.NewScanner(body)
	lines := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		s, count, ok := strings.Cut(line, ":")
		if !ok || len(s) != len(suffix) || strings.Trim(count, "0123456789") != "" || count == "" {
			return false, errors.New("range query: not a range answer")
		}
		lines++
		if strings.EqualFold(s, suffix) && strings.Trim(count, "0") != "" {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("range query: %w", err)
	}
	if lines == 0 {
		return false, errors.New("range query: empty answer")
	}
	return false, nil
}
