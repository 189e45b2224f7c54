package link

import "strings"

// Reason says why a workflow FAILED, or why an operator or a job moved it.
// It is the first word of the recorded reason; some carry a detail after
// ": " (the index's refusal, the operator's words).
type Reason string

// Reasons, the one list: the status API, webhooks, history and the chaos
// accounting all speak these.
const (
	ReasonIndexRejected        Reason = "index_rejected"        // the index refused the search; retrying cannot help
	ReasonIndexUnavailable     Reason = "index_unavailable"     // the index stayed unreachable for every attempt
	ReasonPayloadMissing       Reason = "payload_missing"       // the sealed request was purged before processing
	ReasonPayloadUnreadable    Reason = "payload_unreadable"    // no key opens it, or it is not a request
	ReasonNotLinked            Reason = "not_linked"            // a de-link found no LINKED mapping
	ReasonWebhookUndeliverable Reason = "webhook_undeliverable" // history only: before events, a failed delivery failed the workflow
	ReasonReconcileLimit       Reason = "reconcile_limit"       // reconciliation gave up
	ReasonOperatorStop         Reason = "operator_stop"         // `workflow stop`
	ReasonOperatorRetry        Reason = "operator_retry"        // `workflow retry` (history only)
	ReasonOperatorRedeliver    Reason = "operator_redeliver"    // history only: a redelivery that brought a workflow back from FAILED
)

// Reasons lists every reason.
var Reasons = []Reason{
	ReasonIndexRejected, ReasonIndexUnavailable, ReasonPayloadMissing, ReasonPayloadUnreadable,
	ReasonNotLinked, ReasonWebhookUndeliverable, ReasonReconcileLimit, ReasonOperatorStop,
	ReasonOperatorRetry, ReasonOperatorRedeliver,
}

// With adds a detail: "operator_stop: maintenance".
func (r Reason) With(detail string) string {
	if detail == "" {
		return string(r)
	}
	return string(r) + ": " + detail
}

// ReasonOf is the reason a recorded text starts with.
func ReasonOf(text string) Reason {
	r, _, _ := strings.Cut(text, ": ")
	return Reason(r)
}
