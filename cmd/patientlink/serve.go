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
	"net/http/pprof"
	"sync"
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
	"github.com/patientlink/patientlink/internal/metrics"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/schema"
	"github.com/patientlink/patientlink/internal/webhook"
)

// runServe runs the API, the workers or both until ctx ends, then shuts
// down: HTTP stops accepting and drains (bounded), then River stops softly
// (bounded) and cancels what still runs. Nothing acknowledged is lost: a
// job cut off is retried by River or found by reconciliation.
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
	m := metrics.New()

	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	keyring, err := cfg.NewKeyring()
	if err != nil {
		return err
	}
	store := postgres.New(pool, m)
	processor := &jobs.LinkProcessor{
		Store:   store,
		Index:   jobs.InstrumentedIndex{Searcher: index.New(cfg.IndexURL, index.Options{Timeout: cfg.IndexTimeout, Logger: logger}), Metrics: m},
		Keyring: keyring,
		Policy:  link.Policy{Threshold: cfg.AutolinkThreshold, Margin: cfg.AutolinkMargin},
		Logger:  logger,
	}

	working := cfg.Role != "api"
	riverConfig := &river.Config{Logger: logger}
	if working {
		riverConfig = workerRiverConfig(cfg, logger, store, processor, m)
	}
	riverClient, err := river.NewClient(riverpgxv5.New(pool), riverConfig)
	if err != nil {
		return fmt.Errorf("error creating River client: %w", err)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	if working {
		if err := riverClient.Start(ctx); err != nil {
			return fmt.Errorf("error starting River: %w", err)
		}
		logger.Info("River workers started", "link_workers", cfg.LinkWorkers, "webhook_workers", cfg.WebhookWorkers)
		wg.Go(func() { jobs.Gauges{Store: store, Metrics: m, Logger: logger}.Run(bgCtx, 15*time.Second) })
	}
	if cfg.OperatorAddr != "" {
		wg.Go(func() {
			if err := serveHTTP(bgCtx, logger, operatorServer(cfg.OperatorAddr, m), time.Second); err != nil {
				logger.Error("operator server stopped", "error", err)
			}
		})
	}

	var serveErr error
	if cfg.Role != "worker" {
		latest, err := schema.Latest()
		if err != nil {
			return err
		}
		handler := httpapi.NewServer(httpapi.Deps{
			Logger:                logger,
			Store:                 store,
			Tokens:                auth.NewTokens(cfg.TokenSecret, cfg.TokenPrevious...),
			Keyring:               keyring,
			River:                 riverClient,
			Processor:             processor,
			CallbackSecret:        cfg.IndexCallbackSecret,
			AdminToken:            cfg.AdminToken,
			Metrics:               m,
			ServeMetrics:          cfg.OperatorAddr == "",
			OpenAPI:               openAPISpec,
			SchemaVersion:         latest,
			AllowInsecureWebhooks: cfg.AllowInsecureWebhooks,
			IdempotencyTTL:        cfg.IdempotencyTTL,
			MaxBodyBytes:          cfg.MaxBodyBytes,
			RateLimit:             cfg.RateLimit,
			RateBurst:             cfg.RateBurst,
			MaxInFlight:           cfg.MaxInFlight,
			StatusRetryAfter:      cfg.StatusRetryAfter,
		})
		srv := &http.Server{
			Addr:              cfg.Addr,
			Handler:           handler,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		serveErr = serveHTTP(ctx, logger, srv, cfg.ShutdownTimeout)
	} else {
		<-ctx.Done()
	}
	if working {
		stopRiver(logger, riverClient, cfg.RiverStopTimeout)
	}
	logger.Info("stopped")
	return serveErr
}

func workerRiverConfig(cfg config.Config, logger *slog.Logger, store *postgres.Store, processor *jobs.LinkProcessor, m *metrics.Metrics) *river.Config {
	return jobs.RiverConfig(jobs.Settings{
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
		Reporter:   &jobs.Reporter{Store: store, Logger: logger, OnReport: func(r postgres.StuckReport) { m.SetStuckReport(r.PendingTotal) }},
		Metrics:    m,
	})
}

// operatorServer serves metrics and profiles apart from customer traffic.
func operatorServer(addr string, m *metrics.Metrics) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

func newReconciler(store *postgres.Store, logger *slog.Logger, cfg config.Config) *jobs.Reconciler {
	return &jobs.Reconciler{Store: store, Logger: logger, After: cfg.ReconcileAfter, Limit: cfg.ReconcileLimit, BatchSize: 500}
}

// stopRiver lets running jobs finish for up to soft, then cancels them: a
// job cut off is retried by River or found by reconciliation.
func stopRiver(logger *slog.Logger, client *river.Client[pgx.Tx], soft time.Duration) {
	logger.Info("stopping River", "timeout", soft)
	softCtx, cancel := context.WithTimeout(context.Background(), soft)
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

// serveHTTP serves srv until ctx ends; in-flight requests then get up to
// drain to finish while no new connection is accepted.
func serveHTTP(ctx context.Context, logger *slog.Logger, srv *http.Server, drain time.Duration) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", srv.Addr, err)
	}
	logger.Info("serving HTTP", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down HTTP", "addr", ln.Addr().String(), "timeout", drain)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("error shutting down HTTP: %w", err)
	}
	return nil
}
