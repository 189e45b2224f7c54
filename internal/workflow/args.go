package workflow

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

// DeliverArgs points a worker at an event to deliver. The event, not the
// job, holds the delivery's state: a job that finds its event delivered,
// given up or not yet due sends nothing, so jobs need not be unique, and a
// redelivery simply adds one.
type DeliverArgs struct {
	WorkflowID uuid.UUID `json:"workflow_id"`
	EventID    string    `json:"event_id"`
}

// Kind is the job's name in river_job.
func (DeliverArgs) Kind() string { return "webhook.deliver" }

// InsertOpts puts deliveries on their own queue. Attempts are counted by
// the event's retry schedule, not River's default.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhook, MaxAttempts: 100}
}
