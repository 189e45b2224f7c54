package webhooksink

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/webhooksig"
)

const (
	DefaultAddr = "127.0.0.1:8091"
	// SecretEnv is read when no --secret flag is given.
	SecretEnv = "PATIENTLINK_SINK_SECRET"

	shutdownTimeout = 5 * time.Second
)

// Main runs `patientlink webhook-sink` until ctx is cancelled. args are the
// flags after the subcommand name. It prints "listening on <addr>" to stderr
// once the port is open, and one line per request to stdout.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, addr, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg.Out = stdout
	sink := New(cfg)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", addr, err)
	}
	_, _ = fmt.Fprintf(stderr, "listening on %s\n", ln.Addr())

	srv := &http.Server{Handler: sink.Handler(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("error serving webhook sink: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("error shutting down webhook sink: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("error serving webhook sink: %w", err)
	}
	return nil
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, string, error) {
	fs := flag.NewFlagSet("webhook-sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", DefaultAddr, "listen address (host:port; port 0 picks a free one)")
	var secrets secretList
	fs.Var(&secrets, "secret", "whsec_ secret; repeat or comma-separate for rotation (default $"+SecretEnv+")")
	failFirst := fs.Int("fail-first", 0, "answer 500 to the first N attempts of each webhook-id")
	status := fs.Int("status", http.StatusNoContent, "answer this status to every verified request")
	if err := fs.Parse(args); err != nil {
		return Config{}, "", err
	}

	switch {
	case fs.NArg() > 0:
		return Config{}, "", fmt.Errorf("unexpected arguments: %q", fs.Args())
	case *failFirst < 0:
		return Config{}, "", fmt.Errorf("--fail-first must be 0 or more, got %d", *failFirst)
	case *status < 200 || *status > 599:
		return Config{}, "", fmt.Errorf("--status must be an http status from 200 to 599, got %d", *status)
	}
	if len(secrets) == 0 {
		_ = secrets.Set(getenv(SecretEnv))
	}
	if len(secrets) == 0 {
		return Config{}, "", fmt.Errorf("no secret: pass --secret or set %s", SecretEnv)
	}
	for i, s := range secrets {
		if _, err := webhooksig.DecodeSecret(s); err != nil {
			return Config{}, "", fmt.Errorf("error reading secret %d: %w", i+1, err)
		}
	}
	return Config{Secrets: secrets, FailFirst: *failFirst, Status: *status}, *addr, nil
}

// secretList collects repeated and comma-separated --secret values.
type secretList []string

// String never shows the secrets: flag prints defaults and errors with it.
func (l *secretList) String() string { return "" }

func (l *secretList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
