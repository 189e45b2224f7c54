package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/workflow"
)

// operatorService opens what the operator commands need: the use cases
// over a pool, with a River client that only inserts. They read only the
// database, log, maintenance, webhook and matching sections: no secrets.
func operatorService(ctx context.Context, getenv func(string) string, stderr io.Writer) (*workflow.Service, func(), error) {
	cfg, err := config.Load(getenv, config.SectionDatabase|config.SectionLog|config.SectionMaintenance|config.SectionWebhook|config.SectionMatching)
	if err != nil {
		return nil, nil, err
	}
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return nil, nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	svc := workflow.New(workflow.Deps{
		Store:       postgres.New(pool, nil),
		Maintenance: cfg.Maintenance,
		Webhook:     cfg.Webhook,
		Policy:      cfg.Matching.Policy(),
		Logger:      newLogger(stderr, cfg.Log),
	})
	svc.UseRiver(client)
	return svc, pool.Close, nil
}

// runReconcile is `patientlink reconcile --now`: one pass by hand.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	now := fs.Bool("now", false, "run one reconcile pass now")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*now {
		return fmt.Errorf("usage: patientlink reconcile --now")
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	res, err := svc.Reconcile(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reconcile pass: %d put back to work, %d failed at the limit\n", res.Requeued, res.Failed)
	return nil
}

const workflowUsage = "usage: patientlink workflow stop ID --reason TEXT [--actor NAME] | retry ID [--reason TEXT] [--actor NAME]"

// actionFlags are what every operator action records in the history: who
// (--actor, else $USER) and why.
type actionFlags struct {
	fs     *flag.FlagSet
	actor  *string
	reason *string
}

func newActionFlags(name string, stderr io.Writer) actionFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return actionFlags{
		fs:     fs,
		actor:  fs.String("actor", "", "who does this, for the history (default $USER)"),
		reason: fs.String("reason", "", "why, for the history"),
	}
}

// parse reads the flags and names the actor "operator:NAME".
func (a actionFlags) parse(args []string, getenv func(string) string) (actor string, err error) {
	if err := a.fs.Parse(args); err != nil {
		return "", err
	}
	if a.fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", a.fs.Arg(0))
	}
	name := strings.TrimSpace(*a.actor)
	if name == "" {
		name = strings.TrimSpace(getenv("USER"))
	}
	if name == "" {
		return "", errors.New("say who you are with --actor NAME (it goes into the history)")
	}
	return "operator:" + name, nil
}

// runWorkflow is the seed's wildcard: stop a workflow, or retry a failed one.
func runWorkflow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || (args[0] != "stop" && args[0] != "retry") {
		return errors.New(workflowUsage)
	}
	id, err := uuid.Parse(args[1])
	if err != nil {
		return fmt.Errorf("workflow id must be a UUID")
	}
	flags := newActionFlags("workflow "+args[0], stderr)
	actor, err := flags.parse(args[2:], getenv)
	if err != nil {
		return err
	}
	if args[0] == "stop" && *flags.reason == "" {
		return fmt.Errorf("workflow stop needs --reason")
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	if args[0] == "stop" {
		wf, err := svc.Stop(ctx, id, actor, *flags.reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workflow %s is %s (%s); the customer is told\n", wf.ID, wf.Status, wf.Reason)
		return nil
	}
	wf, err := svc.Retry(ctx, id, actor, *flags.reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "workflow %s is %s again (attempt %d)\n", wf.ID, wf.Status, wf.Attempt)
	return nil
}

const webhooksUsage = "usage: patientlink webhooks redeliver WORKFLOW-ID|EVENT-ID [--reason TEXT] [--actor NAME]"

// runWebhooks is `patientlink webhooks redeliver`: an event again, same id
// and body — the workflow's latest, or the one named (msg_…).
func runWebhooks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "redeliver" {
		return errors.New(webhooksUsage)
	}
	flags := newActionFlags("webhooks redeliver", stderr)
	actor, err := flags.parse(args[2:], getenv)
	if err != nil {
		return err
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	var ev link.Event
	if strings.HasPrefix(args[1], "msg_") {
		ev, err = svc.Redeliver(ctx, args[1], uuid.Nil, actor, *flags.reason)
	} else if id, perr := uuid.Parse(args[1]); perr == nil {
		ev, err = svc.RedeliverWorkflow(ctx, id, actor, *flags.reason)
	} else {
		return errors.New("name a workflow id (a UUID) or an event id (msg_…)")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "event %s of workflow %s: delivery %s\n", ev.ID, ev.WorkflowID, ev.Delivery.Status)
	return nil
}
