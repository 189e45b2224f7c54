package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/postgres"
)

// operatorDeps opens what the operator commands need: a store and a River
// client that only inserts.
func operatorDeps(ctx context.Context, getenv func(string) string) (*postgres.Store, *river.Client[pgx.Tx], func(), error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return postgres.New(pool), client, pool.Close, nil
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
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	store, client, done, err := operatorDeps(ctx, getenv)
	if err != nil {
		return err
	}
	defer done()
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	res, err := newReconciler(store, logger, cfg).Pass(ctx, client)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reconcile pass: %d put back to work, %d failed at the limit\n", res.Requeued, res.Failed)
	return nil
}

const workflowUsage = "usage: patientlink workflow stop ID --reason TEXT | retry ID"

// runWorkflow is the seed's wildcard: stop a workflow, or retry a failed one.
func runWorkflow(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf(workflowUsage)
	}
	id, err := uuid.Parse(args[1])
	if err != nil {
		return fmt.Errorf("workflow id must be a UUID")
	}
	store, client, done, err := operatorDeps(ctx, getenv)
	if err != nil {
		return err
	}
	defer done()
	switch args[0] {
	case "stop":
		fs := flag.NewFlagSet("workflow stop", flag.ContinueOnError)
		reason := fs.String("reason", "", "why (recorded as operator_stop: TEXT)")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if *reason == "" {
			return fmt.Errorf("workflow stop needs --reason")
		}
		wf, err := jobs.Stop(ctx, store, client, id, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workflow %s is %s (%s)\n", wf.ID, wf.Status, wf.Reason)
	case "retry":
		wf, err := jobs.Retry(ctx, store, client, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workflow %s is %s again (attempt %d)\n", wf.ID, wf.Status, wf.Attempt)
	default:
		return fmt.Errorf(workflowUsage)
	}
	return nil
}
