package workflow

import (
	"fmt"
	"strings"

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

// ProcessArgs asks a worker to process a workflow. It carries ids only:
// River UI shows job args, and patient data must never appear there.
type ProcessArgs struct {
	WorkflowID  uuid.UUID        `json:"workflow_id" river:"unique"`
	CustomerID  uuid.UUID        `json:"customer_id"`
	RequestType link.RequestType `json:"request_type"`
}

// Kind is the job's name in river_job.
func (ProcessArgs) Kind() string { return "link.process" }

// InsertOpts puts link jobs on their queue, unique per workflow.
func (ProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueLink, MaxAttempts: 25, UniqueOpts: uniquePerWorkflow}
}

func processArgsOf(wf link.Workflow) ProcessArgs {
	return ProcessArgs{WorkflowID: wf.ID, CustomerID: wf.CustomerID, RequestType: wf.RequestType}
}

// DeliverArgs asks a worker to tell the customer a workflow's outcome.
// EventID is the Standard Webhooks message id: the same on every retry, so
// receivers can de-duplicate.
type DeliverArgs struct {
	WorkflowID uuid.UUID `json:"workflow_id" river:"unique"`
	EventID    string    `json:"event_id" river:"unique"`
}

// Kind is the job's name in river_job.
func (DeliverArgs) Kind() string { return "webhook.deliver" }

// InsertOpts puts deliveries on their own queue. Attempts are counted by
// the retry schedule, not River's default.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhook, MaxAttempts: 100, UniqueOpts: uniquePerWorkflow}
}

// EventID names the notification of a workflow's outcome: one per workflow
// attempt, so an operator's retry is a new event.
func EventID(workflowID uuid.UUID, attempt int) string {
	return fmt.Sprintf("msg_%s_%d", strings.ReplaceAll(workflowID.String(), "-", ""), attempt)
}
