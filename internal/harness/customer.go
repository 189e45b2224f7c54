package harness

import (
	"context"
	"encoding/json"
	"fmt"
)

// Customer is what `patientlink customer create --json` prints.
type Customer struct {
	ID            string `json:"id"`
	Token         string `json:"token"`
	WebhookSecret string `json:"webhook_secret"`
}

// CustomerCreateArgs are the binary's arguments that create a customer and
// print it as JSON.
func CustomerCreateArgs(name, webhookURL string) []string {
	return []string{"customer", "create", "--name", name, "--webhook-url", webhookURL, "--json"}
}

// ParseCustomer reads the output of CustomerCreateArgs.
func ParseCustomer(out []byte) (Customer, error) {
	var c Customer
	if err := json.Unmarshal(out, &c); err != nil {
		return Customer{}, fmt.Errorf("error reading customer create output: %w", err)
	}
	if c.Token == "" || c.WebhookSecret == "" {
		return Customer{}, fmt.Errorf("customer create printed no token or webhook secret: %s", out)
	}
	return c, nil
}

// CreateCustomer runs the binary to create a customer posting webhooks to
// webhookURL.
func CreateCustomer(ctx context.Context, bin string, env Env, name, webhookURL string) (Customer, error) {
	out, err := RunCommand(ctx, bin, env.Environ(), CustomerCreateArgs(name, webhookURL)...)
	if err != nil {
		return Customer{}, err
	}
	return ParseCustomer(out)
}
