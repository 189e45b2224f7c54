package chaos

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// CheckEvents checks the events as the receiver and the GET /events feed
// saw them. Per patient, the feed lists sequence numbers 1, 2, 3 … in
// order; the receiver's de-duplicated events (deliveries may arrive out of
// order) cover the same numbers without a gap, one id per number. Every
// event of the feed was received at least once and every received one is
// in the feed; every delivery of one id, and its feed entry, carry the
// same body.
//
// The feed is read by one reader that follows next-cursor, so the events
// of the OpEvents answers, in order of invocation, are the feed.
func CheckEvents(ops []Op, deliveries []Delivery) []Violation {
	var out []Violation
	feed := feedOf(ops)
	bodies := map[string][]byte{} // id → compact body first seen
	sameBody := func(id string, body []byte, where string) {
		c := compactJSON(body)
		if first, ok := bodies[id]; !ok {
			bodies[id] = c
		} else if !bytes.Equal(first, c) {
			out = append(out, violationf(CheckerEvents, "event %s: %s has body %s, first seen %s", id, where, c, first))
		}
	}

	// The feed: per patient, gap-free and increasing; each id once.
	inFeed := map[string]bool{}
	next := map[string]int{}
	for _, e := range feed {
		if inFeed[e.ID] {
			out = append(out, violationf(CheckerEvents, "event %s listed twice by the feed", e.ID))
			continue
		}
		inFeed[e.ID] = true
		sameBody(e.ID, e.Body, "the feed")
		want := next[e.Patient] + 1
		if e.Sequence != want {
			out = append(out, violationf(CheckerEvents, "patient %s: the feed lists sequence %d (event %s) where %d comes next", e.Patient, e.Sequence, e.ID, want))
		}
		next[e.Patient] = max(next[e.Patient], e.Sequence)
	}

	// The receiver: one id per sequence number, no gaps.
	received := map[string]Delivery{}
	for _, d := range deliveries {
		sameBody(d.ID, d.Body, "a delivery at "+stamp(d.At))
		if _, ok := received[d.ID]; !ok {
			received[d.ID] = d
		}
	}
	seqs := map[string]map[int]string{} // patient → sequence → id
	for _, id := range slices.Sorted(maps.Keys(received)) {
		d := received[id]
		if seqs[d.Patient] == nil {
			seqs[d.Patient] = map[int]string{}
		}
		if other, ok := seqs[d.Patient][d.Sequence]; ok {
			out = append(out, violationf(CheckerEvents, "patient %s: events %s and %s both received with sequence %d", d.Patient, other, id, d.Sequence))
		}
		seqs[d.Patient][d.Sequence] = id
		if len(feed) > 0 && !inFeed[id] {
			out = append(out, violationf(CheckerEvents, "event %s was received but the feed never listed it", id))
		}
	}
	for patient, s := range seqs {
		for n := 1; n <= slices.Max(slices.Collect(maps.Keys(s))); n++ {
			if _, ok := s[n]; !ok {
				out = append(out, violationf(CheckerEvents, "patient %s: the receiver got no event with sequence %d", patient, n))
			}
		}
	}
	for _, e := range feed {
		if _, ok := received[e.ID]; !ok && len(deliveries) > 0 {
			out = append(out, violationf(CheckerEvents, "event %s (patient %s, sequence %d) is in the feed but was never received", e.ID, e.Patient, e.Sequence))
		}
	}
	return out
}

// feedOf is the feed as its reader saw it: the answered pages in order.
func feedOf(ops []Op) []FeedEvent {
	var pages []Op
	for _, o := range ops {
		if o.Kind == OpEvents && o.Known() && o.Status == 200 {
			pages = append(pages, o)
		}
	}
	slices.SortStableFunc(pages, func(a, b Op) int { return a.Invoke.Compare(b.Invoke) })
	var out []FeedEvent
	for _, p := range pages {
		out = append(out, p.Events...)
	}
	return out
}

func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
