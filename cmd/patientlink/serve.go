package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/webhook"
)

// runServe runs the API, the workers or both until ctx ends, then shuts
// down gracefully: HTTP first, then River.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "api, worker or all (default $PATIENTLINK_ROLE, else all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if *role != "" {
		cfg.Role = *role
	}
	if cfg.Role != "api" && cfg.Role != "worker" && cfg.Role != "all" {
		return fmt.Errorf("--role must be api, worker or all")
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel).With("role", cfg.Role)

	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	keyring, err := cfg.NewKeyring()
	if err != nil {
		return err
	}
	store := postgres.New(pool)
	processor := &jobs.LinkProcessor{
		Store:   store,
		Index:   index.New(cfg.IndexURL, index.Options{Timeout: cfg.IndexTimeout, Logger: logger}),
		Keyring: keyring,
		Policy:  link.Policy{Threshold: cfg.AutolinkThreshold, Margin: cfg.AutolinkMargin},
		Logger:  logger,
	}

	riverConfig := &river.Config{Logger: logger}
	working := cfg.Role != "api"
	if working {
		riverConfig = jobs.RiverConfig(jobs.Settings{
			Logger:                logger,
			LinkWorkers:           cfg.LinkWorkers,
			WebhookWorkers:        cfg.WebhookWorkers,
			FetchCooldown:         cfg.FetchCooldown,
			FetchPollInterval:     cfg.FetchPollInterval,
			ReconcileEvery:        cfg.ReconcileEvery,
			StuckReportEvery:      cfg.StuckReportEvery,
			PurgeIdempotencyEvery: cfg.PurgeIdempotencyEvery,
			PurgePayloadsEvery:    cfg.PurgePayloadsEvery,
			CompletedRetention:    cfg.JobRetentionCompleted,
			CancelledRetention:    cfg.JobRetentionFailed,
			DiscardedRetention:    cfg.JobRetentionFailed,
		}, jobs.Workers{
			Processor:  processor,
			Retry:      jobs.Backoff{Base: cfg.RetryBase, Max: 5 * time.Minute},
			Sender:     webhook.NewSender(webhook.Options{Timeout: cfg.WebhookTimeout, AllowInsecure: cfg.AllowInsecureWebhooks, AllowCIDRs: cfg.WebhookAllowCIDRs}),
			Schedule:   cfg.WebhookSchedule,
			Reconciler: newReconciler(store, logger, cfg),
			Purger:     &jobs.Purger{Store: store, Logger: logger, BatchSize: cfg.PurgeBatch, PayloadRetention: cfg.PayloadRetention},
			Reporter:   &jobs.Reporter{Store: store, Logger: logger},
		})
	}
	riverClient, err := river.NewClient(riverpgxv5.New(pool), riverConfig)
	if err != nil {
		return fmt.Errorf("error creating River client: %w", err)
	}
	if working {
		if err := riverClient.Start(ctx); err != nil {
			return fmt.Errorf("error starting River: %w", err)
		}
		logger.Info("River workers started", "link_workers", cfg.LinkWorkers, "webhook_workers", cfg.WebhookWorkers)
	}

	var serveErr error
	if cfg.Role != "worker" {
		handler := httpapi.NewServer(httpapi.Deps{
			Logger:         logger,
			Store:          store,
			Tokens:         auth.NewTokens(cfg.TokenSecret, cfg.TokenPrevious...),
			Keyring:        keyring,
			River:          riverClient,
			Processor:      processor,
			CallbackSecret: cfg.IndexCallbackSecret,
			AdminToken:     cfg.AdminToken,

			AllowInsecureWebhooks: cfg.AllowInsecureWebhooks,
			IdempotencyTTL:        cfg.IdempotencyTTL,
			MaxBodyBytes:          cfg.MaxBodyBytes,
		})
		serveErr = serveHTTP(ctx, logger, cfg.Addr, handler)
	} else {
		<-ctx.Done()
	}
	if working {
		stopRiver(logger, riverClient)
	}
	return serveErr
}

func newReconciler(store *postgres.Store, logger *slog.Logger, cfg config.Config) *jobs.Reconciler {
	return &jobs.Reconciler{Store: store, Logger: logger, After: cfg.ReconcileAfter, Limit: cfg.ReconcileLimit, BatchSize: 500}
}

// stopRiver lets running jobs finish for a while, then cancels them: a job
// cut off is retried by River or found by reconciliation.
func stopRiver(logger *slog.Logger, client *river.Client[pgx.Tx]) {
	softCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Stop(softCtx); err == nil {
		return
	}
	logger.Warn("River did not stop in time; cancelling running jobs")
	hardCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = client.StopAndCancel(hardCtx)
}

func openPool(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL is not a valid connection string")
	}
	pcfg.MaxConns = cfg.DBMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("error opening database pool: %w", err)
	}
	return pool, nil
}

// serveHTTP listens on addr until ctx ends; in-flight requests then get a
// bounded time to finish.
func serveHTTP(ctx context.Context, logger *slog.Logger, addr string, handler http.Handler) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", addr, err)
	}
	logger.Info("serving HTTP", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down HTTP")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("error shutting down HTTP: %w", err)
	}
	return nil
}
