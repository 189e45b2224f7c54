package chaos

// CheckOneToOne checks every sample of the LINKED mappings taken during a
// run: no two share a customer patient (source) or an internal patient
// (target).
func CheckOneToOne(samples []MappingSample) []Violation {
	var out []Violation
	for _, s := range samples {
		sources, targets := map[string]string{}, map[string]string{}
		for _, m := range s.Linked {
			src, dst := m[0], m[1]
			if other, ok := sources[src]; ok {
				out = append(out, violationf(CheckerOneToOne, "at %s patient %s is LINKED to both %s and %s", stamp(s.At), src, other, dst))
			}
			if other, ok := targets[dst]; ok {
				out = append(out, violationf(CheckerOneToOne, "at %s internal patient %s is LINKED to both %s and %s", stamp(s.At), dst, other, src))
			}
			sources[src], targets[dst] = dst, src
		}
	}
	return out
}
