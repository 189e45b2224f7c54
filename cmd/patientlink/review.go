package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

const reviewUsage = "usage: patientlink review list [--status open|resolved|superseded] [--json] | show ID [--json] | resolve ID --link INTERNAL-ID | --no-match --reason TEXT [--actor NAME]"

// runReview is the reviewer's queue: uncertain outcomes (AMBIGUOUS,
// CONFLICT) a person resolves. resolve exits 0 only when this call
// resolved the review.
func runReview(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(reviewUsage)
	}
	switch args[0] {
	case "list":
		return reviewList(ctx, args[1:], getenv, stdout, stderr)
	case "show":
		return reviewShow(ctx, args[1:], getenv, stdout, stderr)
	case "resolve":
		return reviewResolve(ctx, args[1:], getenv, stdout, stderr)
	}
	return errors.New(reviewUsage)
}

func reviewList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("review list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.String("status", link.ReviewOpen, "open, resolved or superseded")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := fs.Parse(args); err != nil {
		return err
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	views := []link.ReviewView{}
	for cursor, pages := "", 0; pages < 10000; pages++ { // bounded: 5 million reviews
		page, err := svc.Reviews(ctx, *status, cursor, workflow.FeedMaxLimit)
		if err != nil {
			return err
		}
		for _, rv := range page.Reviews {
			views = append(views, rv.View())
		}
		if len(page.Reviews) < workflow.FeedMaxLimit {
			break
		}
		cursor = page.NextCursor
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVIEW\tWORKFLOW\tOUTCOME\tSTATUS\tCANDIDATES\tCREATED")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", v.ID, v.WorkflowID, v.Outcome, v.Status, len(v.Candidates), v.CreatedAt.Format("2006-01-02 15:04:05Z"))
	}
	return tw.Flush()
}

func reviewShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(reviewUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return errors.New("review id must be a UUID")
	}
	fs := flag.NewFlagSet("review show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	rv, err := svc.Review(ctx, id)
	if err != nil {
		return fmt.Errorf("review %s: %w", id, err)
	}
	v := rv.View()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	fmt.Fprintf(stdout, "review %s (%s) of workflow %s, patient %s: %s\n", v.ID, v.Status, v.WorkflowID, v.PatientID, v.Outcome)
	for _, c := range v.Candidates {
		var agree []string
		for field, how := range c.Matched {
			agree = append(agree, field+"="+how)
		}
		fmt.Fprintf(stdout, "  candidate %s  score %.2f  %s\n", c.ID, c.Score, strings.Join(agree, " "))
	}
	if v.Decision != "" {
		fmt.Fprintf(stdout, "decided %s by %s: %s %s\n", v.Decision, v.Actor, v.InternalPatientID, v.Reason)
	}
	return nil
}

func reviewResolve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(reviewUsage)
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		return errors.New("review id must be a UUID")
	}
	flags := newActionFlags("review resolve", stderr)
	linkTo := flags.fs.String("link", "", "link the patient to this candidate (an internal patient id)")
	noMatch := flags.fs.Bool("no-match", false, "no candidate is the patient")
	actor, err := flags.parse(args[1:], getenv)
	if err != nil {
		return err
	}
	if (*linkTo == "") == !*noMatch {
		return errors.New("review resolve needs --link INTERNAL-ID or --no-match")
	}
	if strings.TrimSpace(*flags.reason) == "" {
		return errors.New("review resolve needs --reason")
	}
	d := workflow.ReviewDecision{Decision: link.DecideNoMatch, Actor: actor, Reason: *flags.reason}
	if *linkTo != "" {
		d.Decision, d.InternalPatientID = link.DecideLink, *linkTo
	}
	svc, done, err := operatorService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	rv, err := svc.ResolveReview(ctx, id, d)
	if err != nil {
		return fmt.Errorf("review %s: %w", id, err)
	}
	fmt.Fprintf(stdout, "review %s resolved: %s %s; the customer is told\n", rv.ID, rv.Decision, rv.InternalPatientID)
	return nil
}
