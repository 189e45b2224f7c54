package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/schema"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

// devDir holds everything development generates: the cluster, secrets and
// the demo customer. It is gitignored.
const devDir = ".data"

// devSecrets are generated once and kept, so restarts keep tokens valid and
// sealed payloads readable.
var devSecrets = []string{"PATIENTLINK_TOKEN_SECRET", "PATIENTLINK_DATA_KEY", "PATIENTLINK_INDEX_CALLBACK_SECRET", "PATIENTLINK_ADMIN_TOKEN"}

// runDev is `make run`: the private Postgres (unless DATABASE_URL is set),
// migrations, development secrets, a demo customer, the index simulator and
// a webhook sink, then serve --role all.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	indexAsync := fs.Bool("index-async", false, "the simulator answers searches asynchronously, by callback")
	indexErrors := fs.Float64("index-error-rate", 0, "share of searches the simulator fails")
	indexAmbiguous := fs.Float64("index-ambiguous-rate", 0, "share of the simulator's patients with a planted twin: their links end AMBIGUOUS, for review")
	sinkFailFirst := fs.Int("sink-fail-first", 0, "the sink fails the first N attempts of each webhook")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := devEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	if err := schema.Up(env("DATABASE_URL")); err != nil {
		return err
	}
	demo, err := ensureDemoCustomer(ctx, env)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
patientlink development setup
  database:      %s
  API:           http://%s
  demo customer: %s
  token:         %s/demo-token   (export TOKEN=$(cat %s/demo-token))

  operator:      http://%s (/admin/…, /metrics; admin token: PATIENTLINK_ADMIN_TOKEN in %s/secrets.env)
  index sim:     %s (patients it knows: go run ./cmd/patientlink index-sim --list 5)
  webhook sink:  %s (verified deliveries print below)

  the CLI in another terminal:
    export DATABASE_URL=%s; set -a; . %s/secrets.env; set +a

`, env("DATABASE_URL"), env("PATIENTLINK_ADDR"), demo.ID, devDir, devDir, env("PATIENTLINK_OPERATOR_ADDR"), devDir,
		env("PATIENTLINK_INDEX_URL"), demoWebhookURL, env("DATABASE_URL"), devDir)

	simArgs := []string{"--addr", strings.TrimPrefix(env("PATIENTLINK_INDEX_URL"), "http://"),
		"--callback-url", "http://" + env("PATIENTLINK_OPERATOR_ADDR"), "--callback-secret", env("PATIENTLINK_INDEX_CALLBACK_SECRET"),
		"--error-rate", fmt.Sprint(*indexErrors), "--ambiguous-rate", fmt.Sprint(*indexAmbiguous)}
	if *indexAsync {
		simArgs = append(simArgs, "--async")
	}
	sinkArgs := []string{"--addr", "127.0.0.1:8091", "--secret", demo.WebhookSecret, "--fail-first", fmt.Sprint(*sinkFailFirst)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for name, start := range map[string]func() error{
		"index-sim":    func() error { return indexsim.Main(ctx, simArgs, getenv, stdout, stderr) },
		"webhook-sink": func() error { return webhooksink.Main(ctx, sinkArgs, getenv, stdout, stderr) },
	} {
		wg.Go(func() {
			if err := start(); err != nil && ctx.Err() == nil {
				fmt.Fprintf(stderr, "%s stopped: %v\n", name, err)
				cancel()
			}
		})
	}
	err = runServe(ctx, []string{"--role", "all"}, env, stderr)
	cancel()
	wg.Wait()
	return err
}

// devEnv overlays getenv with the development defaults: the database URL,
// secrets from .data/secrets.env (made on first run) and insecure webhooks.
func devEnv(ctx context.Context, getenv func(string) string, stderr io.Writer) (func(string) string, error) {
	vals := map[string]string{
		"PATIENTLINK_ALLOW_INSECURE_WEBHOOKS": "true",
		"PATIENTLINK_ALLOW_INSECURE_INDEX":    "true",
		"PATIENTLINK_OPERATOR_ADDR":           "127.0.0.1:9090", // the index's callbacks arrive here
		"PATIENTLINK_LOG_FORMAT":              "text",
	}
	if getenv("DATABASE_URL") == "" {
		url, err := startDevDB(ctx, devCluster(getenv, stderr))
		if err != nil {
			return nil, err
		}
		vals["DATABASE_URL"] = url
	}
	secrets, err := loadDevSecrets(filepath.Join(devDir, "secrets.env"))
	if err != nil {
		return nil, err
	}
	for k, v := range secrets {
		vals[k] = v
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		if v, ok := vals[name]; ok {
			return v
		}
		for _, v := range config.Vars {
			if v.Name == name {
				return v.Default
			}
		}
		return ""
	}, nil
}

func loadDevSecrets(path string) (map[string]string, error) {
	secrets := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				secrets[k] = v
			}
		}
	}
	changed := false
	for _, name := range devSecrets {
		if secrets[name] != "" {
			continue
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		secrets[name] = base64.StdEncoding.EncodeToString(b)
		changed = true
	}
	if !changed {
		return secrets, nil
	}
	var sb strings.Builder
	sb.WriteString("# Development secrets made by `patientlink dev`. Never use them in production.\n")
	for _, name := range devSecrets {
		fmt.Fprintf(&sb, "%s=%s\n", name, secrets[name])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return secrets, os.WriteFile(path, []byte(sb.String()), 0o600)
}

// demoWebhookURL is where `make run`'s webhook sink listens.
const demoWebhookURL = "http://127.0.0.1:8091/webhook"

// ensureDemoCustomer creates the demo customer once and keeps its id, token
// and webhook secret in .data/demo.json (token alone in .data/demo-token).
func ensureDemoCustomer(ctx context.Context, env func(string) string) (createdCustomer, error) {
	path := filepath.Join(devDir, "demo.json")
	var demo createdCustomer
	cfg, err := config.Load(env, config.SectionDatabase|config.SectionTokens)
	if err != nil {
		return demo, err
	}
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return demo, err
	}
	defer pool.Close()
	store := postgres.New(pool, nil)
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &demo) == nil {
		// A demo whose token is not active (say, one from before tokens had
		// recorded ids) is made again.
		claims, err := auth.NewTokens(cfg.Tokens.Secret).Verify(demo.Token)
		active := false
		if err == nil {
			if active, err = store.TokenActive(ctx, demo.ID, claims.TokenID); err != nil {
				return demo, err
			}
		}
		if active {
			return demo, nil
		}
	}
	var out strings.Builder
	if err := runCustomer(ctx, []string{"create", "--name", "Demo clinic", "--webhook-url", demoWebhookURL, "--json"}, env, &out, io.Discard); err != nil {
		return demo, err
	}
	if err := json.Unmarshal([]byte(out.String()), &demo); err != nil {
		return demo, err
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o600); err != nil {
		return demo, err
	}
	return demo, os.WriteFile(filepath.Join(devDir, "demo-token"), []byte(demo.Token+"\n"), 0o600)
}
