package chaos

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/patientlink/patientlink/internal/link"
)

// commitSlack widens a mapping write past its recorded commit time: the
// commit timestamp is taken before the commit record is flushed and the
// transaction becomes visible.
const commitSlack = time.Second

// registerInput is one operation on a patient's mapping register: a
// write of value, a read (whose output is the value it saw), or a
// de-link's acknowledgement, which saw whether the patient was LINKED
// (output true: 202, false: 404 not-linked).
type registerInput struct {
	patient string
	write   bool
	linked  bool // a de-link's look at the register
	value   string
}

// isLinked is what a de-link's acknowledgement looks at.
func isLinked(value string) bool { return strings.HasPrefix(value, link.MappingLinked+" ") }

// mappingValue is what GET /patient shows: "" before any mapping (404),
// else "LINKED <internal id>" or "DE-LINKED <internal id>".
func mappingValue(status, internal string) string {
	if status == "" {
		return ""
	}
	return status + " " + internal
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, o := range history {
			p := o.Input.(registerInput).patient
			by[p] = append(by[p], o)
		}
		out := make([][]porcupine.Operation, 0, len(by))
		for _, k := range slices.Sorted(maps.Keys(by)) {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(registerInput)
		switch {
		case in.write:
			return true, in.value
		case in.linked:
			return output.(bool) == isLinked(state.(string)), state
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		switch {
		case in.write:
			return fmt.Sprintf("write(%q)", in.value)
		case in.linked:
			return fmt.Sprintf("delink() → linked %t", output.(bool))
		}
		return fmt.Sprintf("read() → %q", output.(string))
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state.(string)) },
}

// registerOps turns GET /patient answers (200 or 404) into reads, the
// answers to DELETE /link into looks at whether the patient was LINKED,
// and mapping changes — links, resolutions and de-links alike — into
// writes between their transaction's start and its commit (plus
// commitSlack; to the end of time when the commit is unknown).
func registerOps(ops []Op, writes []MappingWrite) map[string][]porcupine.Operation {
	by := map[string][]porcupine.Operation{}
	client := 0
	for _, o := range ops {
		var in registerInput
		var out any
		switch {
		case !o.Known():
			continue
		case o.Kind == OpPatient && (o.Status == 200 || o.Status == 404):
			in, out = registerInput{patient: o.Patient}, mappingValue(o.State, o.Internal)
		case o.Kind == OpDelink && o.Status == 202 && !o.Replayed:
			// Acknowledged in a statement that found the mapping LINKED. A
			// replay tells of an earlier attempt, whose start is unknown.
			in, out = registerInput{patient: o.Patient, linked: true}, true
		case o.Kind == OpDelink && o.Status == 404 && bytes.Contains(o.Body, []byte("not-linked")):
			in, out = registerInput{patient: o.Patient, linked: true}, false
		default:
			continue
		}
		client++
		by[o.Patient] = append(by[o.Patient], porcupine.Operation{
			ClientId: client, Input: in, Call: o.Invoke.UnixNano(), Output: out, Return: o.Complete.UnixNano(),
		})
	}
	for _, w := range writes {
		if len(by[w.Patient]) == 0 {
			continue // never read: nothing to check
		}
		ret := int64(math.MaxInt64)
		if !w.Commit.IsZero() {
			ret = w.Commit.Add(commitSlack).UnixNano()
		}
		client++
		by[w.Patient] = append(by[w.Patient], porcupine.Operation{
			ClientId: client, Input: registerInput{patient: w.Patient, write: true, value: mappingValue(w.Status, w.Internal)},
			Call: w.Start.UnixNano(), Output: "", Return: ret,
		})
	}
	return by
}

// CheckMappings checks that, per patient, the GET /patient reads, the
// de-link acknowledgements and the mapping changes form a linearizable
// register history. When they do not,
// porcupine's visualisation of the failing patients is written to
// htmlPath (when set); written says whether it was.
func CheckMappings(ops []Op, writes []MappingWrite, htmlPath string) (out []Violation, written bool) {
	by := registerOps(ops, writes)
	var failing []porcupine.Operation
	for _, p := range slices.Sorted(maps.Keys(by)) {
		if porcupine.CheckOperationsTimeout(registerModel, by[p], 10*time.Second) == porcupine.Illegal {
			failing = append(failing, by[p]...)
			out = append(out, violationf(CheckerMappings, "patient %s: GET /patient reads, de-links and mapping changes are not linearizable (%d operations)", p, len(by[p])))
		}
	}
	if len(failing) == 0 || htmlPath == "" {
		return out, false
	}
	_, info := porcupine.CheckOperationsVerbose(registerModel, failing, 30*time.Second)
	if err := porcupine.VisualizePath(registerModel, info, htmlPath); err != nil {
		out = append(out, violationf(CheckerMappings, "error writing the visualisation: %v", err))
		return out, false
	}
	return out, true
}
