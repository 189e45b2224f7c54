// Command patientlink is the whole service in one binary: the API and the
// workers (serve), schema migrations, customer administration and the
// development helpers.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "patientlink:", err)
		os.Exit(1)
	}
}

const usage = `usage: patientlink COMMAND [flags]

commands:
  serve                  run the API and workers (DATABASE_URL, PATIENTLINK_*)
  migrate up|down [N]|version
                         apply, revert (all, or N steps) or show the schema version
  customer create --name NAME [--webhook-url URL] [--json]
  customer token ID      issue a new token for a customer
  customer rotate-secret ID [--overlap 72h]
                         a new webhook secret; the old one also signs during the overlap
  customer set-webhook ID --url URL | --clear [--actor NAME] [--reason TEXT]
                         where events go (none: the customer reads GET /events)
  customer disable|enable ID
  reconcile --now        one reconciliation pass by hand
  workflow stop ID --reason TEXT [--actor NAME] | retry ID [--actor NAME]
                         fail a workflow being processed (the customer is told), or retry a failed one
  review list [--status S] [--json] | show ID [--json]
  review resolve ID --link INTERNAL-ID | --no-match --reason TEXT [--actor NAME]
                         uncertain outcomes (AMBIGUOUS, CONFLICT) a person resolves
  webhooks redeliver WORKFLOW-ID|EVENT-ID [--actor NAME]
                         send an event again: same id, same body
  dev                    development: private Postgres, migrations, secrets,
                         a demo customer, then serve (what 'make run' runs)
  dev-db start|stop|url  the private development PostgreSQL cluster
  index-sim              the internal patient index simulator (--list N prints patients)
  webhook-sink           a development webhook receiver that verifies signatures
`

// run is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "migrate":
		return runMigrate(rest, getenv, stdout)
	case "customer":
		return runCustomer(ctx, rest, getenv, stdout, stderr)
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "dev-db":
		return runDevDB(ctx, rest, getenv, stdout, stderr)
	case "reconcile":
		return runReconcile(ctx, rest, getenv, stdout, stderr)
	case "workflow":
		return runWorkflow(ctx, rest, getenv, stdout, stderr)
	case "review":
		return runReview(ctx, rest, getenv, stdout, stderr)
	case "webhooks":
		return runWebhooks(ctx, rest, getenv, stdout, stderr)
	case "index-sim":
		return indexsim.Main(ctx, rest, getenv, stdout, stderr)
	case "webhook-sink":
		return webhooksink.Main(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
