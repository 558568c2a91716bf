// Package mail sends authd's mails from the outbox table mail_outbox: the
// links of the account flows (verify an address, reset a password, confirm
// a new address) and the notices that go with them.
//
// # Queueing
//
// A flow queues a mail in the transaction of the change that causes it,
// with [Enqueue] (db.EnqueueMail, then db.NotifyMail to wake the senders),
// so a mail exists exactly when its change was committed, and no request
// ever waits on SMTP. The kind is one of the Kind constants; data is
// [Data] as JSON: names and addresses to show, never a token.
//
// # Sending
//
// A [Sender] in every replica (MAIL_WORKER) claims due mails under a lease
// (db.ClaimMail: FOR UPDATE SKIP LOCKED), one at a time, has the token of
// a token kind minted, renders the templates, sends outside any transaction and
// records the result only if it still holds the lease. It wakes on
// LISTEN authd_mail and polls every MAIL_POLL_INTERVAL in any case, so
// polling alone is enough (behind PgBouncer in transaction mode, where
// LISTEN cannot work, a mail waits at most one interval). Delivery is at
// least once: a sender that dies after the server accepted a mail but
// before recording it leaves the mail to be sent again after the lease,
// with a new token; both tokens stay valid until one is used.
//
// # Tokens
//
// The tokens of the links belong to package onetime, which owns their
// format, hash, lifetimes and spending. The sender mints one through the
// [onetime.Store] it is given, of the purpose named like the mail's kind,
// for the outbox row's user and to_addr (for change_email the new
// address), just before it sends; it drops the token again if the mail
// was certainly not sent ([ErrNotSent]). The raw token exists only in the
// sender's memory and in the mail's link: it is never stored, logged or
// written to last_error.
//
// A token mail still unsent when its purpose's TTL has passed since it was
// queued is marked failed instead: a reset link hours late is worse than
// none.
//
// # Operating
//
// An [Outbox] lists the mails and queues a failed one again (authd mail
// list, authd mail retry).
package mail
