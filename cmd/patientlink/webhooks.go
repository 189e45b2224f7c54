package main

import (
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/postgres"
)

// runWebhooks is `patientlink webhooks redeliver WORKFLOW-ID`.
func runWebhooks(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "redeliver" {
		return fmt.Errorf("usage: patientlink webhooks redeliver WORKFLOW-ID")
	}
	id, err := uuid.Parse(args[1])
	if err != nil {
		return fmt.Errorf("workflow id must be a UUID")
	}
	dbURL, err := config.RequireDatabase(getenv)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return err
	}
	wf, err := jobs.Redeliver(ctx, postgres.New(pool), client, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "workflow %s (%s): notification queued again\n", wf.ID, wf.Status)
	return nil
}
