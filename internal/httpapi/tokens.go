package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/auth"
)

// tokenRecheck is how long a token id's answer (active or not) is reused:
// a revocation reaches every API process within it.
const tokenRecheck = 500 * time.Millisecond

// tokenStore says whether a token id is issued, unrevoked and unexpired.
type tokenStore interface {
	TokenActive(ctx context.Context, customerID, tokenID uuid.UUID) (bool, error)
}

// tokenGate checks a token's signature and claims, then its id against the
// database, remembering each id's answer for at most tokenRecheck so a busy
// customer costs one indexed read per process per interval.
type tokenGate struct {
	tokens *auth.Tokens
	store  tokenStore
	now    func() time.Time

	mu   sync.Mutex
	seen map[uuid.UUID]tokenAnswer
}

type tokenAnswer struct {
	active bool
	at     time.Time
}

func newTokenGate(tokens *auth.Tokens, store tokenStore, now func() time.Time) *tokenGate {
	return &tokenGate{tokens: tokens, store: store, now: now, seen: map[uuid.UUID]tokenAnswer{}}
}

// check returns the token's claims; auth.ErrInvalidToken for a bad,
// unknown or revoked token, another error when the database failed.
func (g *tokenGate) check(ctx context.Context, token string) (auth.Claims, error) {
	claims, err := g.tokens.Verify(token)
	if err != nil {
		return auth.Claims{}, err
	}
	now := g.now()
	g.mu.Lock()
	a, ok := g.seen[claims.TokenID]
	g.mu.Unlock()
	if !ok || now.Sub(a.at) >= tokenRecheck || now.Before(a.at) {
		active, err := g.store.TokenActive(ctx, claims.CustomerID, claims.TokenID)
		if err != nil {
			return auth.Claims{}, err
		}
		a = tokenAnswer{active: active, at: now}
		g.remember(claims.TokenID, a)
	}
	if !a.active {
		return auth.Claims{}, auth.ErrInvalidToken
	}
	return claims, nil
}

// remember stores an answer, first dropping stale ones when the map has
// grown, so garbage tokens cannot grow it without bound.
func (g *tokenGate) remember(id uuid.UUID, a tokenAnswer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) >= 10000 {
		for k, v := range g.seen {
			if a.at.Sub(v.at) >= tokenRecheck {
				delete(g.seen, k)
			}
		}
	}
	g.seen[id] = a
}
