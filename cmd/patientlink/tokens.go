package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/postgres"
)

const tokenUsage = "usage: patientlink customer token ID [--json] | token revoke ID --token-id T | tokens ID [--json]"

// issueToken makes a customer token and records its id: the API refuses
// a token whose id it does not know.
func issueToken(ctx context.Context, store *postgres.Store, tokens *auth.Tokens, customerID uuid.UUID, ttl time.Duration) (auth.Issued, error) {
	issued, err := tokens.Issue(customerID, ttl)
	if err != nil {
		return auth.Issued{}, err
	}
	if err := store.TokenRecord(ctx, customerID, issued.ID, issued.ExpiresAt); err != nil {
		return auth.Issued{}, err
	}
	return issued, nil
}

// customerToken is `customer token ID [--json]` and `customer token revoke
// ID --token-id T`.
func customerToken(ctx context.Context, args []string, store *postgres.Store, tokens *auth.Tokens, ttl time.Duration, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "revoke" {
		return customerTokenRevoke(ctx, args[1:], store, stdout)
	}
	id, asJSON, err := customerIDAndJSON("customer token", args)
	if err != nil {
		return err
	}
	if _, err := store.Customer(ctx, id); err != nil {
		return fmt.Errorf("customer %s: %w", id, err)
	}
	issued, err := issueToken(ctx, store, tokens, id, ttl)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(issued)
	}
	fmt.Fprintln(stdout, issued.Token)
	return nil
}

func customerTokenRevoke(ctx context.Context, args []string, store *postgres.Store, stdout io.Writer) error {
	fs := flag.NewFlagSet("customer token revoke", flag.ContinueOnError)
	tokenID := fs.String("token-id", "", "the token's id (customer tokens ID lists them)")
	if len(args) == 0 {
		return errors.New(tokenUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return fmt.Errorf("customer id must be a UUID")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	tid, err := uuid.Parse(*tokenID)
	if err != nil {
		return fmt.Errorf("--token-id must be a token id (a UUID)")
	}
	tok, err := store.TokenRevoke(ctx, id, tid)
	if err != nil {
		return fmt.Errorf("customer %s token %s: %w", id, tid, err)
	}
	fmt.Fprintf(stdout, "token %s of customer %s revoked at %s\n", tok.ID, id, tok.RevokedAt.UTC().Format(time.RFC3339))
	return nil
}

// customerTokens is `customer tokens ID [--json]`: ids and times only,
// never a token.
func customerTokens(ctx context.Context, args []string, store *postgres.Store, stdout io.Writer) error {
	id, asJSON, err := customerIDAndJSON("customer tokens", args)
	if err != nil {
		return err
	}
	list, err := store.Tokens(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(list)
	}
	for _, t := range list {
		state := "active"
		switch {
		case t.RevokedAt != nil:
			state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
		case !t.ExpiresAt.After(time.Now()):
			state = "expired"
		}
		fmt.Fprintf(stdout, "%s  issued %s  expires %s  %s\n", t.ID, t.IssuedAt.UTC().Format(time.RFC3339), t.ExpiresAt.UTC().Format(time.RFC3339), state)
	}
	return nil
}

func customerIDAndJSON(name string, args []string) (uuid.UUID, bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if len(args) == 0 {
		return uuid.Nil, false, errors.New(tokenUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("customer id must be a UUID")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return uuid.Nil, false, err
	}
	return id, *asJSON, nil
}
