// Package jobs holds patientlink's River jobs: their arguments, workers and
// the periodic schedule.
package jobs

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/patientlink/patientlink/internal/link"
)

// Queues. Link processing and webhook delivery scale apart.
const (
	QueueLink    = "link"
	QueueWebhook = "webhook"
)

// uniquePerWorkflow lets one live job exist per workflow: a reconcile pass
// racing a retry cannot double the work. Finished jobs do not count, so a
// workflow can be put back to work later.
var uniquePerWorkflow = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	},
}

// LinkProcessArgs asks a worker to process a workflow. It carries ids only:
// River UI shows job args, and patient data must never appear there.
type LinkProcessArgs struct {
	WorkflowID  uuid.UUID        `json:"workflow_id" river:"unique"`
	CustomerID  uuid.UUID        `json:"customer_id"`
	RequestType link.RequestType `json:"request_type"`
}

// Kind is the job's name in river_job.
func (LinkProcessArgs) Kind() string { return "link.process" }

// InsertOpts puts link jobs on their queue, unique per workflow.
func (LinkProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueLink, MaxAttempts: 25, UniqueOpts: uniquePerWorkflow}
}
