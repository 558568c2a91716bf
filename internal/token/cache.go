package token

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verified remembers access tokens whose signature and claims were checked,
// so that a client sending the same token again (the usual case: one access
// token serves every request for its lifetime) costs a SHA-256 instead of a
// signature check. Only the exact bytes verified before hit, and only
// while the time checks the parser made still pass (exp, nbf and iat, with
// the same leeway): otherwise it is a miss, and the full verification gives
// the error. The keys are fixed for the life of the process, so nothing else
// can invalidate an entry.
// Revocation is not cached: every request still checks its session in the
// database.
//
// A nil *verified remembers nothing. It holds at most 2*half entries in two generations: when the newer one is
// full, the older one is dropped. A hit in the older one moves the entry up,
// so tokens in use stay and abandoned ones age out.
type verified struct {
	mu        sync.Mutex
	half      int
	cur, prev map[cacheKey]entry
}

type entry struct {
	c         Claims
	notBefore time.Time // the later of nbf and iat
}

func newVerified(size int) *verified {
	half := max(size/2, 1)
	return &verified{half: half, cur: make(map[cacheKey]entry, half)}
}

// cacheKey is what the cache knows a token by.
type cacheKey [sha256.Size]byte

func keyOf(tok string) cacheKey { return sha256.Sum256([]byte(tok)) }

// get returns the claims of the token with key k if it was verified before
// and its time checks still pass at now (with leeway).
func (v *verified) get(k cacheKey, now time.Time, leeway time.Duration) (Claims, bool) {
	if v == nil {
		return Claims{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.cur[k]
	if !ok {
		if e, ok = v.prev[k]; !ok {
			return Claims{}, false
		}
		delete(v.prev, k)
		v.putLocked(k, e)
	}
	// As jwt's parser: expired unless now < exp+leeway; not valid yet if
	// now+leeway < nbf or iat.
	if !now.Before(e.c.ExpiresAt.Add(leeway)) || now.Add(leeway).Before(e.notBefore) {
		return Claims{}, false
	}
	return e.c, true
}

func (v *verified) put(k cacheKey, c Claims, nbf time.Time) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.putLocked(k, entry{c, nbf})
}

func (v *verified) putLocked(k cacheKey, e entry) {
	if len(v.cur) >= v.half {
		v.prev, v.cur = v.cur, make(map[cacheKey]entry, v.half)
	}
	v.cur[k] = e
}

func (v *verified) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.cur) + len(v.prev)
}
