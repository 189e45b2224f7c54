package main

import (
	"context"
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
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/metrics"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/schema"
	"github.com/patientlink/patientlink/internal/webhook"
	"github.com/patientlink/patientlink/internal/workflow"
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
	cfg, err := config.Load(getenv, config.SectionAll)
	if err != nil {
		return err
	}
	if *role != "" {
		cfg.Role = *role
	}
	if cfg.Role != "api" && cfg.Role != "worker" && cfg.Role != "all" {
		return fmt.Errorf("--role must be api, worker or all")
	}
	logger := newLogger(stderr, cfg.Log).With("role", cfg.Role)
	m := metrics.New()

	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer pool.Close()
	keyring, err := cfg.Keys.Keyring()
	if err != nil {
		return err
	}
	svc := workflow.New(workflow.Deps{
		Store:   postgres.New(pool, m).WithSealer(keyring),
		Keyring: keyring,
		Index: index.New(cfg.Index.URL, index.Options{
			Timeout: cfg.Index.Timeout, Logger: logger, Token: cfg.Index.Token, AllowInsecure: cfg.Index.AllowInsecure,
		}),
		Sender:      webhook.NewSender(webhook.Options{Timeout: cfg.Webhook.Timeout, AllowInsecure: cfg.Webhook.AllowInsecure, AllowCIDRs: cfg.Webhook.AllowCIDRs}),
		Policy:      cfg.Matching.Policy(),
		Webhook:     cfg.Webhook,
		Maintenance: cfg.Maintenance,
		Logger:      logger,
		Metrics:     m,
	})

	working := cfg.Role != "api"
	riverConfig := &river.Config{Logger: logger}
	if working {
		riverConfig = jobs.RiverConfig(logger, cfg.Workers, cfg.Maintenance, svc)
	}
	riverClient, err := river.NewClient(riverpgxv5.New(pool), riverConfig)
	if err != nil {
		return fmt.Errorf("error creating River client: %w", err)
	}
	svc.UseRiver(riverClient)

	var wg sync.WaitGroup
	defer wg.Wait()
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	if working {
		if err := riverClient.Start(ctx); err != nil {
			return fmt.Errorf("error starting River: %w", err)
		}
		logger.Info("River workers started", "link_workers", cfg.Workers.LinkWorkers, "webhook_workers", cfg.Workers.WebhookWorkers)
		wg.Go(func() { svc.RunGauges(bgCtx, 15*time.Second) })
	}
	latest, err := schema.Latest()
	if err != nil {
		return err
	}
	deps := httpapi.Deps{
		Logger:        logger,
		Config:        cfg.HTTP,
		Service:       svc,
		Tokens:        auth.NewTokens(cfg.Tokens.Secret, cfg.Tokens.Previous...),
		Metrics:       m,
		OpenAPI:       openAPISpec,
		SchemaVersion: latest,
	}
	if cfg.HTTP.OperatorAddr != "" {
		wg.Go(func() {
			if err := serveHTTP(bgCtx, logger, operatorServer(cfg.HTTP, httpapi.NewOperatorServer(deps)), time.Second); err != nil {
				logger.Error("operator server stopped", "error", err)
			}
		})
	}

	var serveErr error
	if cfg.Role != "worker" {
		handler := httpapi.NewServer(deps)
		srv := &http.Server{
			Addr:              cfg.HTTP.Addr,
			Handler:           handler,
			ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
			ReadTimeout:       cfg.HTTP.ReadTimeout,
			WriteTimeout:      cfg.HTTP.WriteTimeout,
			IdleTimeout:       cfg.HTTP.IdleTimeout,
			MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		serveErr = serveHTTP(ctx, logger, srv, cfg.HTTP.ShutdownTimeout)
	} else {
		<-ctx.Done()
	}
	if working {
		stopRiver(logger, riverClient, cfg.Workers.StopTimeout)
	}
	logger.Info("stopped")
	return serveErr
}

// operatorServer serves the operator routes (index callbacks, /admin,
// metrics) and profiles apart from customer traffic.
func operatorServer(cfg config.HTTP, routes http.Handler) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/", routes)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Addr: cfg.OperatorAddr, Handler: mux, ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout: cfg.ReadTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
	}
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
