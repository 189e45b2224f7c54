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
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/webhook"
	"github.com/patientlink/patientlink/internal/webhooksig"
)

const customerUsage = "usage: patientlink customer create --name NAME [--webhook-url URL] [--json] | token ID [--json] | token revoke ID --token-id T | tokens ID [--json] | rotate-secret ID [--overlap 72h] | set-webhook ID --url URL|--clear [--actor NAME] [--reason TEXT] | disable ID | enable ID"

func runCustomer(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(customerUsage)
	}
	if args[0] == "set-webhook" {
		return customerSetWebhook(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := config.Load(getenv, config.SectionDatabase|config.SectionTokens|config.SectionKeys|config.SectionWebhook)
	if err != nil {
		return err
	}
	keyring, err := cfg.Keys.Keyring()
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.New(pool, nil).WithSealer(keyring)
	tokens := auth.NewTokens(cfg.Tokens.Secret, cfg.Tokens.Previous...)

	switch args[0] {
	case "create":
		return customerCreate(ctx, args[1:], cfg, store, tokens, stdout)
	case "token":
		return customerToken(ctx, args[1:], store, tokens, cfg.Tokens.TTL, stdout)
	case "tokens":
		return customerTokens(ctx, args[1:], store, stdout)
	case "rotate-secret":
		return customerRotateSecret(ctx, args[1:], store, stdout)
	case "disable", "enable":
		id, err := customerArg(args)
		if err != nil {
			return err
		}
		c, err := store.CustomerSetActive(ctx, id, args[0] == "enable")
		if err != nil {
			return fmt.Errorf("customer %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "customer %s is %s\n", c.ID, map[bool]string{true: "active", false: "disabled"}[c.Active])
		return nil
	}
	return errors.New(customerUsage)
}

func customerArg(args []string) (uuid.UUID, error) {
	if len(args) != 2 {
		return uuid.Nil, errors.New(customerUsage)
	}
	id, err := uuid.Parse(args[1])
	if err != nil {
		return uuid.Nil, fmt.Errorf("customer id must be a UUID")
	}
	return id, nil
}

// customerRotateSecret gives a customer a new webhook secret. Deliveries
// carry signatures by both secrets until the overlap ends, so the customer
// can switch its receiver without missing one.
func customerRotateSecret(ctx context.Context, args []string, store *postgres.Store, stdout io.Writer) error {
	fs := flag.NewFlagSet("customer rotate-secret", flag.ContinueOnError)
	overlap := fs.Duration("overlap", 72*time.Hour, "how long the old secret also signs")
	if len(args) == 0 {
		return errors.New(customerUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return fmt.Errorf("customer id must be a UUID")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	secret, err := webhooksig.NewSecret()
	if err != nil {
		return err
	}
	c, err := store.CustomerRotateSecret(ctx, id, secret, time.Now().Add(*overlap))
	if err != nil {
		return fmt.Errorf("customer %s: %w", id, err)
	}
	fmt.Fprintf(stdout, "new webhook secret: %s\nthe previous secret also signs until %s\n", secret, c.PreviousUntil.UTC().Format(time.RFC3339))
	return nil
}

type createdCustomer struct {
	ID uuid.UUID `json:"id"`
	auth.Issued
	WebhookSecret string `json:"webhook_secret"`
}

func customerCreate(ctx context.Context, args []string, cfg config.Config, store *postgres.Store, tokens *auth.Tokens, stdout io.Writer) error {
	fs := flag.NewFlagSet("customer create", flag.ContinueOnError)
	name := fs.String("name", "", "customer name")
	webhookURL := fs.String("webhook-url", "", "where events are delivered (none: the customer reads GET /events)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("customer create needs --name")
	}
	if *webhookURL != "" {
		if err := checkWebhookURL(*webhookURL, cfg.Webhook); err != nil {
			return fmt.Errorf("--webhook-url: %w", err)
		}
	}
	secret, err := webhooksig.NewSecret()
	if err != nil {
		return err
	}
	c, err := store.CustomerCreate(ctx, link.Customer{ID: uuid.New(), Name: *name, WebhookURL: *webhookURL, WebhookSecret: secret})
	if err != nil {
		return err
	}
	issued, err := issueToken(ctx, store, tokens, c.ID, cfg.Tokens.TTL)
	if err != nil {
		return err
	}
	out := createdCustomer{ID: c.ID, Issued: issued, WebhookSecret: secret}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "id:             %s\ntoken:          %s\ntoken id:       %s\nexpires at:     %s\nwebhook secret: %s\n",
		out.ID, out.Token, out.Issued.ID, out.ExpiresAt.UTC().Format(time.RFC3339), out.WebhookSecret)
	return nil
}

func checkWebhookURL(raw string, cfg config.Webhook) error {
	if err := webhook.ValidateURL(raw, cfg.AllowInsecure); err != nil {
		return fmt.Errorf("%w (http only with PATIENTLINK_ALLOW_INSECURE_WEBHOOKS=true)", err)
	}
	return nil
}

// customerSetWebhook is `customer set-webhook ID --url URL | --clear`: where
// the customer's events go from now on (none: the feed only), recorded in
// the history with who and why.
func customerSetWebhook(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(customerUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return fmt.Errorf("customer id must be a UUID")
	}
	flags := newActionFlags("customer set-webhook", stderr)
	url := flags.fs.String("url", "", "the new webhook URL")
	clearURL := flags.fs.Bool("clear", false, "no webhook: the customer reads GET /events")
	actor, err := flags.parse(args[1:], getenv)
	if err != nil {
		return err
	}
	if (*url == "") == !*clearURL {
		return errors.New("customer set-webhook needs --url URL or --clear")
	}
	cfg, err := config.Load(getenv, config.SectionWebhook)
	if err != nil {
		return err
	}
	if *url != "" {
		if err := checkWebhookURL(*url, cfg.Webhook); err != nil {
			return fmt.Errorf("--url: %w", err)
		}
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	c, err := svc.SetWebhook(ctx, id, *url, actor, *flags.reason)
	if err != nil {
		return fmt.Errorf("customer %s: %w", id, err)
	}
	if c.WebhookURL == "" {
		fmt.Fprintf(stdout, "customer %s has no webhook URL: its events are in GET /events\n", c.ID)
		return nil
	}
	fmt.Fprintf(stdout, "customer %s: events go to %s\n", c.ID, c.WebhookURL)
	return nil
}
