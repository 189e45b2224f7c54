package indexsim

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CallbackSecretEnv supplies --callback-secret when the flag is not given, so
// the secret need not appear in process listings.
const CallbackSecretEnv = "PATIENTLINK_INDEX_CALLBACK_SECRET"

const shutdownTimeout = 5 * time.Second

// Main runs `patientlink index-sim`: it serves the simulator until ctx is
// cancelled, or with --list N prints the first N patients and returns.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, addr, list, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if list > 0 {
		return writePatients(stdout, generatePopulation(cfg.Seed, min(list, cfg.Size), cfg.AmbiguousRate).patients)
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = logger

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", addr, err)
	}
	sim := New(cfg)
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("index simulator listening",
		slog.String("addr", ln.Addr().String()),
		slog.Int64("seed", cfg.Seed),
		slog.Int("size", cfg.Size),
		slog.Bool("async", cfg.Async))

	select {
	case err := <-serveErr:
		sim.Close()
		return fmt.Errorf("error serving: %w", err)
	case <-ctx.Done():
	}

	// Close the simulator first: it releases searches held by injected
	// timeouts, which would otherwise keep Shutdown waiting for HangFor.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("error shutting down: %w", err)
	}
	logger.Info("index simulator stopped", slog.Any("stats", sim.Stats()))
	return nil
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (cfg Config, addr string, list int, err error) {
	fs := flag.NewFlagSet("index-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintln(fs.Output(), "usage: patientlink index-sim [flags]\n\nSimulates the internal patient index over a synthetic population.\n\nflags:")
		fs.PrintDefaults()
	}
	var secret string
	fs.StringVar(&addr, "addr", "127.0.0.1:8090", "address to listen on")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the synthetic population")
	fs.IntVar(&cfg.Size, "size", defaultSize, "number of patients")
	fs.DurationVar(&cfg.Latency, "latency", 0, "latency added to every search")
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of searches answered 503 (0..1)")
	fs.Float64Var(&cfg.TimeoutRate, "timeout-rate", 0, "share of searches held until the client gives up or --hang-for passes, then 504 (0..1)")
	fs.DurationVar(&cfg.HangFor, "hang-for", defaultHangFor, "longest hold of a timed-out search")
	fs.BoolVar(&cfg.Async, "async", false, "answer 202 and POST results to --callback-url")
	fs.StringVar(&cfg.CallbackURL, "callback-url", "", "base URL for callbacks; results go to {url}/internal/search-results/{search-id}")
	fs.StringVar(&secret, "callback-secret", "", "HMAC secret for callback signatures, taken as the raw bytes of the string;\nprefix with 'base64:' to give standard base64 instead (default $"+CallbackSecretEnv+")")
	fs.DurationVar(&cfg.CallbackDelay, "callback-delay", 0, "delay before a callback is sent")
	fs.Float64Var(&cfg.AmbiguousRate, "ambiguous-rate", 0, "share of patients with a planted twin of the same name and dob (0..1)")
	fs.IntVar(&list, "list", 0, "print the first N patients as JSON lines and exit without serving")
	if err := fs.Parse(args); err != nil {
		return Config{}, "", 0, err
	}
	if fs.NArg() > 0 {
		return Config{}, "", 0, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	if secret == "" {
		secret = getenv(CallbackSecretEnv)
	}
	if cfg.CallbackSecret, err = decodeSecret(secret); err != nil {
		return Config{}, "", 0, err
	}
	if err := validateFlags(cfg, list); err != nil {
		return Config{}, "", 0, err
	}
	return cfg, addr, list, nil
}

func decodeSecret(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, "base64:")
	if !ok {
		return []byte(secret), nil
	}
	b, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("error decoding base64 callback secret: %w", err)
	}
	return b, nil
}

func validateFlags(cfg Config, list int) error {
	var errs []error
	if cfg.Size <= 0 {
		errs = append(errs, errors.New("--size must be positive"))
	}
	if list < 0 {
		errs = append(errs, errors.New("--list must not be negative"))
	}
	rates := []struct {
		flag string
		rate float64
	}{{"--error-rate", cfg.ErrorRate}, {"--timeout-rate", cfg.TimeoutRate}, {"--ambiguous-rate", cfg.AmbiguousRate}}
	for _, r := range rates {
		if r.rate < 0 || r.rate > 1 {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1", r.flag))
		}
	}
	if cfg.Latency < 0 || cfg.HangFor < 0 || cfg.CallbackDelay < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if cfg.Async && list == 0 {
		if u, err := url.Parse(cfg.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--async needs --callback-url, an http(s) URL"))
		}
		if len(cfg.CallbackSecret) == 0 {
			errs = append(errs, fmt.Errorf("--async needs --callback-secret or $%s", CallbackSecretEnv))
		}
	}
	return errors.Join(errs...)
}

func writePatients(w io.Writer, patients []Patient) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, p := range patients {
		if err := enc.Encode(p); err != nil {
			return fmt.Errorf("error writing patient: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("error writing patients: %w", err)
	}
	return nil
}
