package session

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
)

// newRecoveryCodes replaces user's recovery codes with RecoveryCodeCount
// new ones (onetime.NewRecoveryCode: 80 bits each) in q's transaction and
// returns them; only their hashes are stored.
func (s *Service) newRecoveryCodes(ctx context.Context, q *db.Queries, user uuid.UUID) ([]string, error) {
	if _, err := q.DeleteRecoveryCodes(ctx, user); err != nil {
		return nil, fmt.Errorf("delete recovery codes: %w", err)
	}
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = onetime.NewRecoveryCode()
		err := q.CreateRecoveryCode(ctx, db.CreateRecoveryCodeParams{UserID: user, CodeHash: onetime.RecoveryHash(codes[i]), Now: s.now()})
		if err != nil {
			return nil, fmt.Errorf("create recovery code: %w", err)
		}
	}
	return codes, nil
}

// useRecoveryCode spends code, one of user's recovery codes, with one
// UPDATE ... WHERE used_at IS NULL: of concurrent uses exactly one wins.
// Anything else is ErrBadCode.
func (s *Service) useRecoveryCode(ctx context.Context, q *db.Queries, user uuid.UUID, code string) error {
	h := onetime.RecoveryHash(code)
	if h == nil {
		return ErrBadCode
	}
	n, err := q.UseRecoveryCode(ctx, db.UseRecoveryCodeParams{UserID: user, CodeHash: h, Now: s.now()})
	switch {
	case err != nil:
		return fmt.Errorf("use recovery code: %w", err)
	case n == 0:
		return ErrBadCode
	}
	return nil
}

// afterRecovery is what follows the use of a recovery code, in its
// transaction: the user's sessions but keep end, the owner is mailed, and
// mailed again if two or fewer codes are left. It returns how many
// sessions ended.
func (s *Service) afterRecovery(ctx context.Context, q *db.Queries, user db.User, keep uuid.UUID) (int64, error) {
	n, err := s.endSessions(ctx, q, user.ID, keep, ReasonRecoveryCode)
	if err != nil {
		return 0, err
	}
	left, err := q.CountRecoveryCodes(ctx, user.ID)
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	if err := s.record(ctx, q, event{name: reqlog.MFARecoveryCodeUsed, user: user.ID, sessions: []uuid.UUID{keep},
		data: map[string]any{"remaining": left}}); err != nil {
		return 0, err
	}
	mails := []mail.Mail{to(mail.KindRecoveryCodeUsed, user)}
	if left <= recoveryLow {
		mails = append(mails, to(mail.KindRecoveryCodesLow, user))
	}
	return n, s.queue(ctx, q, mails...)
}
