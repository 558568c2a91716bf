package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

// SupersededReason is the last error of a mail that a change to its
// account ended before it was sent.
const SupersededReason = "superseded: the account changed before it was sent"

// Supersede ends user's mails of kinds that are not sent yet, in q's
// transaction, which must be that of the change that makes their links
// stale (a new password, a new address), and before that change deletes
// the user's secrets: a sender that minted a secret for one of them first
// has then committed it, and one that comes later mints nothing (see
// db.SupersedeUserMails and onetime.Store.MintForMail). They fail, and no
// retry sends them. It returns how many it ended.
func Supersede(ctx context.Context, q *db.Queries, user uuid.UUID, now time.Time, kinds ...string) (int64, error) {
	n, err := q.SupersedeUserMails(ctx, db.SupersedeUserMailsParams{
		Now: now, Reason: SupersededReason, UserID: uuid.NullUUID{UUID: user, Valid: true}, Kinds: kinds,
	})
	if err != nil {
		return 0, fmt.Errorf("supersede mails: %w", err)
	}
	return n, nil
}
