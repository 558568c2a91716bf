// Package onetime owns authd's one-time secrets: the tokens of the
// verification, reset and email change links, and whatever else is handed
// to one holder to be used once (the two-factor login tickets and recovery
// codes to come are purposes of this package, not a second mechanism).
//
// # The contract
//
//   - purpose: a [Purpose] names what a secret is for and is stored in
//     one_time_tokens.purpose; a secret of one purpose is never spent as
//     another. Each purpose has a [Format] and a lifetime ([Lifetimes],
//     configured once, where the [Store] is built).
//   - format: [Link] is 32 bytes from crypto/rand in base64url without
//     padding (43 characters of [A-Za-z0-9_-]).
//   - stored: only [Hash] of the raw text (SHA-256, 32 bytes), the user,
//     the address the secret was sent to, and its expiry. The raw secret
//     exists only in the minter's memory and with its holder: it is never
//     stored, logged or written to an error.
//   - minting ([Store.Mint]) inserts the row; a user deleted meanwhile is
//     [ErrNoUser].
//   - spending ([Store.Spend]) uses a secret up in the caller's
//     transaction, with its user locked first (the lock order of every
//     flow: user, then tokens): of any number of concurrent callers exactly
//     one gets it. Unknown, expired, used and wrong-purpose secrets are all
//     [ErrInvalid]. [Store.Peek] answers whether one would be spent, without
//     spending it.
//   - dropping ([Store.Drop]) deletes a secret that was minted but never
//     handed out.
//
// # A new purpose
//
// A new purpose is a [Purpose] constant with its format in
// [Purpose.Format], its lifetime in the [Lifetimes] the binary builds, and
// the value in the one_time_tokens_purpose_known check of the schema. A
// new shape of secret (a short code to type, say) is a new [Format].
package onetime
