package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/workflow"
)

// operatorService opens what the operator commands need: the use cases
// over a pool, with a River client that only inserts. They read only the
// database, log and maintenance sections: no secrets.
func operatorService(ctx context.Context, getenv func(string) string, stderr io.Writer) (*workflow.Service, func(), error) {
	cfg, err := config.Load(getenv, config.SectionDatabase|config.SectionLog|config.SectionMaintenance)
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

const workflowUsage = "usage: patientlink workflow stop ID --reason TEXT | retry ID"

// runWorkflow is the seed's wildcard: stop a workflow, or retry a failed one.
func runWorkflow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return errors.New(workflowUsage)
	}
	id, err := uuid.Parse(args[1])
	if err != nil {
		return fmt.Errorf("workflow id must be a UUID")
	}
	var reason string
	switch args[0] {
	case "stop":
		fs := flag.NewFlagSet("workflow stop", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.StringVar(&reason, "reason", "", "why (recorded as operator_stop: TEXT)")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if reason == "" {
			return fmt.Errorf("workflow stop needs --reason")
		}
	case "retry":
	default:
		return errors.New(workflowUsage)
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	if args[0] == "stop" {
		wf, err := svc.Stop(ctx, id, reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workflow %s is %s (%s)\n", wf.ID, wf.Status, wf.Reason)
		return nil
	}
	wf, err := svc.Retry(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "workflow %s is %s again (attempt %d)\n", wf.ID, wf.Status, wf.Attempt)
	return nil
}

// runWebhooks is `patientlink webhooks redeliver WORKFLOW-ID`.
func runWebhooks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "redeliver" {
		return fmt.Errorf("usage: patientlink webhooks redeliver WORKFLOW-ID")
	}
	id, err := uuid.Parse(args[1])
	if err != nil {
		return fmt.Errorf("workflow id must be a UUID")
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	wf, err := svc.Redeliver(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "workflow %s (%s): notification queued again\n", wf.ID, wf.Status)
	return nil
}
