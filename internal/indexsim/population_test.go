package indexsim

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPopulationIsDeterministic(t *testing.T) {
	t.Parallel()

	a := generatePopulation(1, 5_000, 0.1).patients
	b := generatePopulation(1, 5_000, 0.1).patients
	require.Equal(t, a, b)

	other := generatePopulation(2, 5_000, 0.1).patients
	require.NotEqual(t, a[0].ID, other[0].ID)
	same := 0
	for i := range a {
		if a[i].FullName == other[i].FullName && a[i].DOB == other[i].DOB {
			same++
		}
	}
	require.Less(t, same, 10, "another seed gives another population")
}

func TestPopulationSmallerIsPrefixOfLarger(t *testing.T) {
	t.Parallel()

	small := generatePopulation(7, 100, 0.2).patients
	large := generatePopulation(7, 10_000, 0.2).patients
	require.Equal(t, small, large[:100])
}

func TestPopulationShape(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		ambiguousRate float64
		wantTwinShare float64 // share of patients that have a twin
	}{
		{name: "no twins by default", ambiguousRate: 0, wantTwinShare: 0},
		{name: "planted twins", ambiguousRate: 0.1, wantTwinShare: 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const size = 20_000
			patients := generatePopulation(3, size, tt.ambiguousRate).patients
			require.Len(t, patients, size)

			ids := make(map[string]bool, size)
			keys := make(map[string]int, size)
			for _, p := range patients {
				require.Regexp(t, uuidPattern, p.ID)
				require.False(t, ids[p.ID], "duplicate id")
				ids[p.ID] = true

				dob, err := time.Parse(time.DateOnly, p.DOB)
				require.NoError(t, err)
				require.False(t, dob.Before(earliestDOB) || dob.After(latestDOB), "dob %s out of range", p.DOB)

				keys[tokenKey(normalizeName(p.FullName))+"|"+p.DOB]++
			}
			withTwin := 0
			for _, n := range keys {
				require.LessOrEqual(t, n, 2, "only planted pairs share name and dob")
				if n == 2 {
					withTwin += 2
				}
			}
			require.InDelta(t, tt.wantTwinShare, float64(withTwin)/size, 0.01)
		})
	}
}

func TestPopulationGeneratesQuickly(t *testing.T) {
	t.Parallel()

	start := time.Now()
	sim := New(Config{Seed: 1, Logger: discardLogger()})
	elapsed := time.Since(start)
	require.Len(t, sim.Population(), defaultSize)
	t.Logf("generated and indexed %d patients in %s", defaultSize, elapsed)
	if !raceEnabled { // the race detector slows map work several times over
		require.Less(t, elapsed, 500*time.Millisecond)
	}
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want string
	}{
		{in: "Ada Lovelace", want: "ada lovelace"},
		{in: "  ADA   lovelace ", want: "ada lovelace"},
		{in: "José Muñoz", want: "jose munoz"},
		{in: "Zoë Ødegaard", want: "zoe odegaard"},
		{in: "Jürgen Müller", want: "jurgen muller"},
		{in: "Łukasz Šimek", want: "lukasz simek"},
		{in: "Søren Bergström", want: "soren bergstrom"},
		{in: "Jose\u0301 Garci\u0301a", want: "jose garcia"}, // combining accents
		{in: "Conan O'Brien", want: "conan obrien"},
		{in: "Conan O’Brien", want: "conan obrien"},
		{in: "J.R. Smith", want: "jr smith"},
		{in: "Mary-Kate Smith-Jones", want: "mary kate smith jones"},
		{in: "Smith, John", want: "smith john"},
		{in: "Straße", want: "strasse"},
		{in: "", want: ""},
		{in: "!!!", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, normalizeName(tt.in))
		})
	}
}
