package indexsim

import (
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"
)

// Patient is one synthetic entry of the simulated index.
type Patient struct {
	ID       string `json:"id"`
	FullName string `json:"full_name"`
	DOB      string `json:"dob"`
}

var (
	earliestDOB = time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC)
	latestDOB   = time.Date(2020, 12, 31, 0, 0, 0, 0, time.UTC)
)

// middleNameShare is the share of patients with a middle name, so that some
// names have three tokens to reorder.
const middleNameShare = 0.15

// population is the synthetic patients plus their lookup index.
type population struct {
	patients   []Patient
	normalized []string           // normalizeName(patients[i].FullName)
	byKey      map[string][]int32 // matchKey → patient indexes, in order
}

// matchKey is what a search looks up: name tokens in sorted order, then dob.
func matchKey(sortedTokens, dob string) string { return sortedTokens + "|" + dob }

// generatePopulation builds size patients from seed. Patient i depends only on
// seed, i and patients before it, so a smaller population is a prefix of a
// larger one with the same seed: --list N shows what a server of any size holds.
//
// Twins are planted in pairs: with probability ambiguousRate, patient 2k+1
// copies the name and dob of patient 2k. Every other name+dob (in any token
// order) is unique, so a search matches nothing by accident.
func generatePopulation(seed int64, size int, ambiguousRate float64) *population {
	pop := &population{
		patients:   make([]Patient, size),
		normalized: make([]string, size),
		byKey:      make(map[string][]int32, size),
	}
	names := nameParts()
	dobs := dobStrings()
	var lastKey string
	for i := range pop.patients {
		rng := newSplitMix(seed, i)
		p := &pop.patients[i]
		p.ID = uuidFrom(rng.next(), rng.next())

		// Always draw, so the rate changes which pairs are twins and nothing else.
		twin := rng.float64() < ambiguousRate
		if twin && i%2 == 1 {
			prev := pop.patients[i-1]
			p.FullName, p.DOB, pop.normalized[i] = prev.FullName, prev.DOB, pop.normalized[i-1]
			pop.byKey[lastKey] = append(pop.byKey[lastKey], int32(i))
			continue
		}
		for {
			name := names.random(&rng)
			p.DOB = dobs[rng.next()%uint64(len(dobs))]
			key := matchKey(name.sortedTokens, p.DOB)
			if _, taken := pop.byKey[key]; !taken {
				p.FullName, pop.normalized[i] = name.full, name.normalized
				pop.byKey[key] = []int32{int32(i)}
				lastKey = key
				break
			}
		}
	}
	return pop
}

// namePart is a list entry with its normalized forms computed once, which
// keeps generating 100k patients fast.
type namePart struct {
	raw        string
	normalized string
	tokens     []string
}

type nameLists struct{ first, last []namePart }

var nameParts = sync.OnceValue(func() nameLists {
	parts := func(names []string) []namePart {
		out := make([]namePart, len(names))
		for i, n := range names {
			norm := normalizeName(n)
			out[i] = namePart{raw: n, normalized: norm, tokens: strings.Fields(norm)}
		}
		return out
	}
	return nameLists{first: parts(firstNames), last: parts(lastNames)}
})

type generatedName struct{ full, normalized, sortedTokens string }

func (l nameLists) random(rng *splitMix) generatedName {
	var chosen [3]*namePart // fixed arrays: this runs 100k times
	n := 0
	chosen[n] = &l.first[rng.next()%uint64(len(l.first))]
	n++
	last := &l.last[rng.next()%uint64(len(l.last))]
	if rng.float64() < middleNameShare {
		chosen[n] = &l.first[rng.next()%uint64(len(l.first))]
		n++
	}
	chosen[n] = last
	n++

	var full, normalized [3]string
	var tokens [12]string
	nt := 0
	for i, part := range chosen[:n] {
		full[i], normalized[i] = part.raw, part.normalized
		nt += copy(tokens[nt:], part.tokens)
	}
	slices.Sort(tokens[:nt])
	return generatedName{
		full:         strings.Join(full[:n], " "),
		normalized:   strings.Join(normalized[:n], " "),
		sortedTokens: strings.Join(tokens[:nt], " "),
	}
}

// dobStrings lists every possible date of birth once, so patients share the
// strings instead of formatting 100k dates.
var dobStrings = sync.OnceValue(func() []string {
	var dobs []string
	for d := earliestDOB; !d.After(latestDOB); d = d.AddDate(0, 0, 1) {
		dobs = append(dobs, d.Format(time.DateOnly))
	}
	return dobs
})

// uuidFrom formats 128 bits as a version 4 UUID string.
func uuidFrom(hi, lo uint64) string {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// splitMix is SplitMix64: tiny, fast, and good enough for synthetic data. One
// stream per patient keeps patient i independent of the population size.
type splitMix struct{ state uint64 }

func newSplitMix(seed int64, i int) splitMix {
	s := splitMix{state: uint64(seed)}
	s.state = s.next() ^ uint64(i)*0xd1b54a32d192ed03
	s.next() // one round so neighbouring indexes diverge at once
	return s
}

func (s *splitMix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (s *splitMix) float64() float64 {
	return float64(s.next()>>11) / (1 << 53)
}
