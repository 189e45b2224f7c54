package jobs

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/postgres"
)

// Reporter writes the regular report of pending workflows, for people to
// debug what reconciliation could not fix.
type Reporter struct {
	Store  *postgres.Store
	Logger *slog.Logger
	// OnReport sees each report (the metrics gauge hooks in here).
	OnReport func(postgres.StuckReport)
}

// Report writes one report and logs its summary once.
func (r *Reporter) Report(ctx context.Context) (postgres.StuckReport, error) {
	rep, err := r.Store.CreateStuckReport(ctx, 10)
	if err != nil {
		return rep, err
	}
	level := slog.LevelInfo
	if rep.PendingTotal > 0 {
		level = slog.LevelWarn
	}
	r.Logger.Log(ctx, level, "stuck workflow report", "report_id", rep.ID, "pending", rep.PendingTotal, "by_state_age", rep.ByStateAge)
	if r.OnReport != nil {
		r.OnReport(rep)
	}
	return rep, nil
}

// StuckReportArgs is the periodic stuck-workflow report.
type StuckReportArgs struct{}

// Kind is the job's name in river_job.
func (StuckReportArgs) Kind() string { return "stuck-report" }

// StuckReportWorker writes a report.
type StuckReportWorker struct {
	river.WorkerDefaults[StuckReportArgs]
	Reporter *Reporter
}

// Work writes one report.
func (w *StuckReportWorker) Work(ctx context.Context, _ *river.Job[StuckReportArgs]) error {
	_, err := w.Reporter.Report(ctx)
	return err
}
