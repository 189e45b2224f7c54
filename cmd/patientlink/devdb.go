package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/patientlink/patientlink/internal/pgcluster"
)

// devCluster is the private cluster under .data/ of the working directory.
func devCluster(getenv func(string) string, log io.Writer) *pgcluster.Cluster {
	return &pgcluster.Cluster{Dir: filepath.Join(".data", "pg"), Port: pgcluster.Port(getenv), Log: log}
}

const devDatabase = "patientlink"

func runDevDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: patientlink dev-db start|stop|url")
	}
	c := devCluster(getenv, stderr)
	switch args[0] {
	case "start":
		url, err := startDevDB(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, url)
		return nil
	case "stop":
		return c.Stop(ctx)
	case "url":
		fmt.Fprintln(stdout, c.URL(devDatabase))
		return nil
	}
	return fmt.Errorf("usage: patientlink dev-db start|stop|url")
}

// startDevDB starts the cluster and creates the development database.
func startDevDB(ctx context.Context, c *pgcluster.Cluster) (string, error) {
	if err := c.Start(ctx); err != nil {
		return "", err
	}
	if err := c.CreateDatabase(ctx, devDatabase); err != nil {
		return "", err
	}
	return c.URL(devDatabase), nil
}
