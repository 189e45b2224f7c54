package chaos

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// commitSlack widens a mapping write past its recorded commit time: the
// commit timestamp is taken before the commit record is flushed and the
// transaction becomes visible.
const commitSlack = time.Second

// registerInput is one operation on a patient's mapping register: a
// write of value, or a read (whose output is the value it saw).
type registerInput struct {
	patient string
	write   bool
	value   string
}

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
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		if in.write {
			return fmt.Sprintf("write(%q)", in.value)
		}
		return fmt.Sprintf("read() → %q", output.(string))
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state.(string)) },
}

// registerOps turns GET /patient answers (200 or 404) into reads and
// mapping changes into writes between their transaction's start and its
// commit (plus commitSlack; to the end of time when the commit is unknown).
func registerOps(ops []Op, writes []MappingWrite) map[string][]porcupine.Operation {
	by := map[string][]porcupine.Operation{}
	client := 0
	for _, o := range ops {
		if o.Kind != OpPatient || !o.Known() || (o.Status != 200 && o.Status != 404) {
			continue
		}
		client++
		by[o.Patient] = append(by[o.Patient], porcupine.Operation{
			ClientId: client, Input: registerInput{patient: o.Patient},
			Call: o.Invoke.UnixNano(), Output: mappingValue(o.State, o.Internal), Return: o.Complete.UnixNano(),
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

// CheckMappings checks that, per patient, the GET /patient reads and the
// mapping changes form a linearizable register history. When they do not,
// porcupine's visualisation of the failing patients is written to
// htmlPath (when set); written says whether it was.
func CheckMappings(ops []Op, writes []MappingWrite, htmlPath string) (out []Violation, written bool) {
	by := registerOps(ops, writes)
	var failing []porcupine.Operation
	for _, p := range slices.Sorted(maps.Keys(by)) {
		if porcupine.CheckOperationsTimeout(registerModel, by[p], 10*time.Second) == porcupine.Illegal {
			failing = append(failing, by[p]...)
			out = append(out, violationf(CheckerMappings, "patient %s: GET /patient reads and mapping changes are not linearizable (%d operations)", p, len(by[p])))
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
